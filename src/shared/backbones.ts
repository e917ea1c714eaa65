// The catalog of backbones Headstart knows, with the fingerprints their sources must match.
import {
  MOBILENET_PREPROCESSING,
  TORCHVISION_PREPROCESSING,
  type Preprocessing,
} from './manifest.js';

export interface BackboneSpec {
  readonly id: string;
  readonly displayName: string;
  /**
   * `tfjs-layers`: a TF.js layers model that Headstart converts to ONNX. `onnx`: an ONNX file
   * imported as users import theirs (checked against its card; see src/shared/onnx-import.ts).
   */
  readonly format: 'tfjs-layers' | 'onnx';
  /** Folder of the model inside a models mirror (such as ../shared/models); ONNX: its model.onnx. */
  readonly mirrorDir: string;
  /** ONNX sources: the tensor of the model's own classifier scores (before softmax). */
  readonly logits?: string;
  /** Where the weights are published upstream. */
  readonly origin: string;
  readonly licence: string;
  /** Pinned weights fingerprint (see fingerprint.ts); a source that differs is refused. */
  readonly fingerprint: string;
  readonly preprocessing: Preprocessing;
  /** Class names for the source's own classifier: a JSON array file in the mirror, pinned by sha256. */
  readonly labels?: { readonly file: string; readonly sha256: string };
  readonly summary: string;
}

/** The 1000 ImageNet class names in the models mirror, pinned by sha256. */
export const IMAGENET_LABELS = {
  file: 'imagenet_classes.json',
  sha256: 'cdda836b4f13adb4c149f356734e472c419d2187ba14d9c208d64096ffdf8aba',
} as const;

export const BACKBONES = [
  {
    id: 'mobilenet-v2-0.35',
    format: 'tfjs-layers',
    displayName: 'MobileNetV2 (width 0.35, 224 px, no top)',
    mirrorDir: 'mobilenet_v2_0.35_224_notop',
    origin:
      'https://storage.googleapis.com/teachable-machine-models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top/model.json',
    licence: 'Apache-2.0',
    fingerprint: '775c33ff50658508db010946af5c3abe9620426677fab030a7a9b9667dba9eee',
    preprocessing: MOBILENET_PREPROCESSING,
    summary:
      'The smallest embedder: 1280-d pooled features from 410k parameters (the Teachable Machine backbone).',
  },
  {
    id: 'mobilenet-v1-0.25',
    format: 'tfjs-layers',
    displayName: 'MobileNet v1 (width 0.25, 224 px) with its ImageNet classifier',
    mirrorDir: 'mobilenet_v1_0.25_224',
    origin: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224/model.json',
    licence: 'Apache-2.0',
    fingerprint: 'e17159038503413ed2dbb5e53f15c402c6db8cf5bae3323d0113fbb95a9048e0',
    preprocessing: MOBILENET_PREPROCESSING,
    labels: IMAGENET_LABELS,
    summary: 'Small and fast: 256-d features plus the 1000-class ImageNet classifier.',
  },
  {
    id: 'mobilenet-v1-0.75',
    format: 'tfjs-layers',
    displayName: 'MobileNet v1 (width 0.75, 224 px) with its ImageNet classifier',
    mirrorDir: 'mobilenet_v1_0.75_224',
    origin: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224/model.json',
    licence: 'Apache-2.0',
    fingerprint: '4795e859075667fd3c496e1ec15ab565831d1e8f5d868f17afd73301a8712ac4',
    preprocessing: MOBILENET_PREPROCESSING,
    labels: IMAGENET_LABELS,
    summary: 'MobileNet v1 at width 0.75: 768-d features plus the 1000-class ImageNet classifier.',
  },
  {
    id: 'mobilenet-v2-1.0',
    format: 'onnx',
    displayName:
      'MobileNetV2 (width 1.0, 224 px, torchvision weights) with its ImageNet classifier',
    mirrorDir: 'mobilenet_v2_1.0_224_torchvision',
    origin:
      'https://github.com/onnx/models/tree/8b137f96/vision/classification/mobilenet (mobilenetv2-12-int8, dequantized)',
    licence: 'BSD-3-Clause (torchvision weights); Apache-2.0 (onnx/models)',
    fingerprint: '5df155e58e34ca5a02b571d19b86225381c20de8f67a609fe3ea20bfd41e20c9',
    preprocessing: TORCHVISION_PREPROCESSING,
    logits: 'logits',
    labels: IMAGENET_LABELS,
    summary:
      'Default embedder and classifier: the strongest catalogue backbone, 1280-d features from 3.5M parameters, plus the ImageNet classifier.',
  },
] as const satisfies readonly BackboneSpec[];

export type BackboneId = (typeof BACKBONES)[number]['id'];
export const BACKBONE_IDS = BACKBONES.map((b) => b.id) as [BackboneId, ...BackboneId[]];

/**
 * What a backbone id looks like: the catalogue's, and any imported with `models:import --onnx`.
 * Whether one exists is the models bucket's to say.
 */
export const BACKBONE_ID_PATTERN = /^[a-z0-9][a-z0-9.-]{1,63}$/;

/**
 * The backbone heads are trained on unless a job names another. Chosen by measurement
 * (docs/backbones.md, "The catalogue"): the best heads on both shared datasets, at about 3× the edge time of
 * mobilenet-v2-0.35 (≈33 ms against ≈11 ms per image in workerd).
 */
export const DEFAULT_EMBEDDER: BackboneId = 'mobilenet-v2-1.0';
/**
 * The backbone `/v1/classify` uses when no model is named (a deployment may set its
 * DEFAULT_CLASSIFIER variable): the most accurate ImageNet classifier of the catalogue, as fast
 * at the edge as mobilenet-v1-0.75 and the same backbone pass as the default heads.
 */
export const DEFAULT_CLASSIFIER: BackboneId = 'mobilenet-v2-1.0';

/**
 * A tenant's own backbone (POST /v1/backbones) is referred to inside Headstart as
 * `{tenantId}/{name}`: jobs, heads and the worker carry this full reference, and only its owner
 * may name it (by `name` alone or in full).
 */
export const TENANT_BACKBONE_REF = /^(ten_[A-Za-z0-9_-]{16})\/([a-z0-9][a-z0-9.-]{1,63})$/;
/** A backbone as jobs and heads name it: a catalogue id or a tenant's full reference. */
export const BACKBONE_REF_PATTERN = /^(ten_[A-Za-z0-9_-]{16}\/)?[a-z0-9][a-z0-9.-]{1,63}$/;

/** The owner and name of a tenant backbone reference (undefined for a catalogue id). */
export function tenantBackboneOf(ref: string): { tenantId: string; name: string } | undefined {
  const match = TENANT_BACKBONE_REF.exec(ref);
  return match ? { tenantId: match[1]!, name: match[2]! } : undefined;
}

/** R2 prefix of one tenant's own backbones. */
export const tenantBackbonesPrefix = (tenantId: string) => `tenant-backbones/${tenantId}/`;

/**
 * R2 keys of a backbone's files: deterministic, so re-imports overwrite in place. A tenant's own
 * live under `tenant-backbones/{tenantId}/`, apart from the catalogue's listing.
 */
export const backboneKeys = (ref: string) => {
  const owned = tenantBackboneOf(ref);
  const dir = owned ? `${tenantBackbonesPrefix(owned.tenantId)}${owned.name}` : `backbones/${ref}`;
  return { manifest: `${dir}/manifest.json`, model: `${dir}/model.onnx` };
};

/** Looks a backbone up by id. */
export function findBackbone(id: string): BackboneSpec | undefined {
  return BACKBONES.find((b) => b.id === id);
}
