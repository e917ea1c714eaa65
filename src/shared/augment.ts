// Seeded training augmentations: each training image becomes K reproducible "views".
//
// A view is a small set of numbers (crop box, flip, rotation, colour factors) sampled from a
// seeded generator and then rendered through the shared resampler, so the same
// (image, seed, view index) always yields the same tensor — which is what lets the worker
// cache one embedding per view instead of re-running the backbone every epoch.
import { z } from 'zod';
import type { RgbImage } from './image.js';
import type { Preprocessing } from './manifest.js';
import { centreCropGrid, normalize } from './preprocess.js';
import { createRng, deriveSeed, randomInt, uniform, type Rng } from './random.js';
import { resample, resampleNormalized, type ResampleScratch } from './resample.js';

const range = (lo: number, hi: number) =>
  z
    .tuple([z.number().min(lo).max(hi), z.number().min(lo).max(hi)])
    .refine(([a, b]) => a <= b, { message: 'range must be [min, max] with min ≤ max' });

export const AugmentationSchema = z.object({
  /** torchvision's RandomResizedCrop: area fraction and aspect-ratio ranges of the crop box. */
  randomResizedCrop: z.object({ scale: range(0.01, 1), ratio: range(0.1, 10) }).optional(),
  /** Probability of a left-right mirror. */
  horizontalFlip: z.number().min(0).max(1).default(0),
  /** torchvision's ColorJitter strengths: each factor is drawn from [max(0, 1 − s), 1 + s]. */
  colorJitter: z
    .object({
      brightness: z.number().min(0).max(1).default(0),
      contrast: z.number().min(0).max(1).default(0),
      saturation: z.number().min(0).max(1).default(0),
    })
    .optional(),
  /** Rotation drawn from [−d, d] degrees about the centre; corners are filled with black. */
  rotationDegrees: z.number().min(0).max(180).default(0),
});
export type Augmentation = z.infer<typeof AugmentationSchema>;

/** Named augmentation presets, from none to the lesson's small-dataset recipe. */
export const AUGMENTATION_PRESETS = {
  /** Every view is the deterministic resize + centre crop. */
  none: { horizontalFlip: 0, rotationDegrees: 0 },
  /** The lesson's training transform: RandomResizedCrop(224) + RandomHorizontalFlip. */
  lesson: {
    randomResizedCrop: { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
    horizontalFlip: 0.5,
    rotationDegrees: 0,
  },
  /** The lesson's advice for small datasets: gentler crops, flips, colour jitter, ±20° rotation. */
  'small-dataset': {
    randomResizedCrop: { scale: [0.7, 1], ratio: [3 / 4, 4 / 3] },
    horizontalFlip: 0.5,
    colorJitter: { brightness: 0.3, contrast: 0.3, saturation: 0.3 },
    rotationDegrees: 20,
  },
} as const satisfies Record<string, Augmentation>;
export type AugmentationPreset = keyof typeof AUGMENTATION_PRESETS;
export const AUGMENTATION_PRESET_NAMES = Object.keys(AUGMENTATION_PRESETS) as [
  AugmentationPreset,
  ...AugmentationPreset[],
];

/** The sampled parameters of one view; `crop` is in source-image pixels. */
export interface ViewParams {
  readonly crop:
    | { readonly x: number; readonly y: number; readonly width: number; readonly height: number }
    | 'centre';
  readonly flip: boolean;
  readonly rotationDegrees: number;
  readonly brightness: number;
  readonly contrast: number;
  readonly saturation: number;
}

/** The deterministic view used for validation and inference. */
export const CENTRE_VIEW: ViewParams = {
  crop: 'centre',
  flip: false,
  rotationDegrees: 0,
  brightness: 1,
  contrast: 1,
  saturation: 1,
};

function sampleCropBox(
  width: number,
  height: number,
  aug: NonNullable<Augmentation['randomResizedCrop']>,
  rng: Rng,
) {
  const area = width * height;
  const logLo = Math.log(aug.ratio[0]);
  const logHi = Math.log(aug.ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * uniform(rng, aug.scale[0], aug.scale[1]);
    const aspect = Math.exp(uniform(rng, logLo, logHi));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return {
        x: randomInt(rng, 0, width - w),
        y: randomInt(rng, 0, height - h),
        width: w,
        height: h,
      };
    }
  }
  // Fallback (as torchvision): the largest centred box whose aspect lies in the ratio range.
  const imageRatio = width / height;
  let w = width;
  let h = height;
  if (imageRatio < aug.ratio[0]) h = Math.round(w / aug.ratio[0]);
  else if (imageRatio > aug.ratio[1]) w = Math.round(h * aug.ratio[1]);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

/**
 * Samples view parameters for an image of the given size.
 *
 * @example
 * const view = sampleView(640, 480, AugmentationSchema.parse(AUGMENTATION_PRESETS.lesson), createRng(7));
 */
export function sampleView(width: number, height: number, aug: Augmentation, rng: Rng): ViewParams {
  const crop = aug.randomResizedCrop
    ? sampleCropBox(width, height, aug.randomResizedCrop, rng)
    : 'centre';
  const flip = aug.horizontalFlip > 0 && rng() < aug.horizontalFlip;
  const jitter = aug.colorJitter;
  const factor = (s: number) => (s > 0 ? uniform(rng, Math.max(0, 1 - s), 1 + s) : 1);
  const brightness = factor(jitter?.brightness ?? 0);
  const contrast = factor(jitter?.contrast ?? 0);
  const saturation = factor(jitter?.saturation ?? 0);
  const rotationDegrees =
    aug.rotationDegrees > 0 ? uniform(rng, -aug.rotationDegrees, aug.rotationDegrees) : 0;
  return { crop, flip, rotationDegrees, brightness, contrast, saturation };
}

/** A stable text key for a view — part of the embedding-cache key. */
export function viewKey(view: ViewParams): string {
  const crop =
    view.crop === 'centre'
      ? 'centre'
      : `${view.crop.x},${view.crop.y},${view.crop.width},${view.crop.height}`;
  return `crop=${crop};flip=${view.flip ? 1 : 0};rot=${view.rotationDegrees};b=${view.brightness};c=${view.contrast};s=${view.saturation}`;
}

function rotate(rgb: Float32Array, width: number, height: number, degrees: number): Float32Array {
  const out = new Float32Array(rgb.length);
  const theta = (degrees * Math.PI) / 180;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const cx = width / 2;
  const cy = height / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Inverse mapping: where does this output pixel centre come from?
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const sx = cos * dx + sin * dy + cx - 0.5;
      const sy = -sin * dx + cos * dy + cy - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = 0; k < 4; k++) {
          const px = x0 + (k & 1);
          const py = y0 + (k >> 1);
          if (px < 0 || py < 0 || px >= width || py >= height) continue;
          const w = ((k & 1) === 1 ? fx : 1 - fx) * (k >> 1 === 1 ? fy : 1 - fy);
          v += rgb[(py * width + px) * 3 + c]! * w;
        }
        out[o + c] = v;
      }
    }
  }
  return out;
}

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);
const luma = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;

/** Brightness, then contrast, then saturation, in place (a fixed order keeps views reproducible). */
function jitterColours(rgb: Float32Array, view: ViewParams): void {
  const n = rgb.length / 3;
  if (view.brightness !== 1) {
    for (let i = 0; i < rgb.length; i++) rgb[i] = clamp255(rgb[i]! * view.brightness);
  }
  if (view.contrast !== 1) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += luma(rgb[i * 3]!, rgb[i * 3 + 1]!, rgb[i * 3 + 2]!);
    const mean = sum / n;
    for (let i = 0; i < rgb.length; i++) rgb[i] = clamp255(mean + (rgb[i]! - mean) * view.contrast);
  }
  if (view.saturation !== 1) {
    for (let i = 0; i < n; i++) {
      const grey = luma(rgb[i * 3]!, rgb[i * 3 + 1]!, rgb[i * 3 + 2]!);
      for (let c = 0; c < 3; c++) {
        const j = i * 3 + c;
        rgb[j] = clamp255(grey + (rgb[j]! - grey) * view.saturation);
      }
    }
  }
}

/**
 * Renders a view of `image` into the model's normalised NCHW tensor. `CENTRE_VIEW` gives exactly
 * `preprocess(image, p)`. `target.out` receives the tensor instead of a new array, and
 * `target.scratch` lends the resampler its working memory.
 */
export function renderView(
  image: RgbImage,
  view: ViewParams,
  p: Preprocessing,
  target?: { readonly out?: Float32Array; readonly scratch?: ResampleScratch },
): Float32Array {
  const { width: outW, height: outH } = p.crop;
  const grid =
    view.crop === 'centre'
      ? { ...centreCropGrid(image.width, image.height, p), flipX: view.flip }
      : {
          outWidth: outW,
          outHeight: outH,
          scaleX: view.crop.width / outW,
          scaleY: view.crop.height / outH,
          offsetX: view.crop.x,
          offsetY: view.crop.y,
          flipX: view.flip,
        };
  const plain =
    view.rotationDegrees === 0 &&
    view.brightness === 1 &&
    view.contrast === 1 &&
    view.saturation === 1;
  // Crops and flips only (every centre view, the lesson's augmentation): one pass to the tensor.
  if (plain) return resampleNormalized(image, grid, p, target?.out, target?.scratch);
  let rgb = resample(image, grid, target?.scratch);
  if (view.rotationDegrees !== 0) rgb = rotate(rgb, outW, outH, view.rotationDegrees);
  jitterColours(rgb, view);
  return normalize(rgb, outW, outH, p, target?.out);
}

/**
 * The K training views of one image: seeded by (seed, imageKey, view index), so they do not
 * depend on processing order. With the "none" preset every view is the centre view.
 *
 * @example
 * const views = trainingViews(img.width, img.height, aug, { seed: 42, imageKey: sha256, count: 4 });
 */
export function trainingViews(
  width: number,
  height: number,
  aug: Augmentation,
  opts: { readonly seed: number; readonly imageKey: string; readonly count: number },
): ViewParams[] {
  return Array.from({ length: opts.count }, (_, i) =>
    sampleView(width, height, aug, createRng(deriveSeed(opts.seed, opts.imageKey, i))),
  );
}
