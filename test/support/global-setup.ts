// Runs once before all test projects: converts the backbones and writes the Node-side
// reference data that the workerd tests compare against (served to them by FIXTURES).
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { BACKBONES } from '../../src/shared/backbones.js';
import {
  AugmentationSchema,
  AUGMENTATION_PRESETS,
  renderView,
  trainingViews,
} from '../../src/shared/augment.js';
import { MOBILENET_PREPROCESSING } from '../../src/shared/manifest.js';
import { preprocess, stackBatch } from '../../src/shared/preprocess.js';
import { createWorkerSession } from '../../src/gpu-worker/embed.js';
import { importBackbones, importOnnxFolder } from '../../scripts/models/import.js';
import { DATASETS_DIR, MODELS_SOURCE, TEST_CACHE, TEST_MODELS } from './paths.js';
import { cameraPhotos, parityPhotos } from './photos.js';
import { decodeFile } from '../../src/gpu-worker/decode.js';
import { zooInt8Card } from './tiny-backbone.js';
import { writeDatasetFixtures } from './zip-writer.js';

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A user's own backbone, imported as users import theirs: the int8 MobileNetV2 from the ONNX zoo. */
export const USER_INT8_BACKBONE = 'user-mnv2-int8';

async function importUserBackbone(): Promise<void> {
  const card = path.join(TEST_CACHE, `${USER_INT8_BACKBONE}.json`);
  await mkdir(TEST_CACHE, { recursive: true });
  await writeFile(card, JSON.stringify(zooInt8Card(USER_INT8_BACKBONE)));
  await importOnnxFolder({
    path: path.join(
      MODELS_SOURCE,
      'mobilenet_v2_1.0_224_torchvision/source/mobilenetv2-12-int8.onnx',
    ),
    card,
    source: MODELS_SOURCE,
    out: TEST_MODELS,
    photos: path.join(DATASETS_DIR, 'hymenoptera_data', 'val', 'bees'),
  });
}

export default async function setup(): Promise<void> {
  await importBackbones({ source: MODELS_SOURCE, out: TEST_MODELS });
  await importUserBackbone();
  // The int8 file as users upload it to POST /v1/backbones (served to workerd as a fixture).
  await mkdir(path.join(TEST_CACHE, 'sources'), { recursive: true });
  await copyFile(
    path.join(MODELS_SOURCE, 'mobilenet_v2_1.0_224_torchvision/source/mobilenetv2-12-int8.onnx'),
    path.join(TEST_CACHE, 'sources', 'mobilenetv2-12-int8.onnx'),
  );
  const dir = path.join(TEST_CACHE, 'parity');
  await mkdir(dir, { recursive: true });
  // Dataset photos, and full-size phone photos that the decoding contract shrinks while decoding.
  const files = [...(await parityPhotos()), ...(await cameraPhotos())];
  // Decoded with the worker's decoder (the shared decoding contract the edge runs too).
  const images = await Promise.all(files.map(async (f) => decodeFile(await readFile(f))));
  const aug = AugmentationSchema.parse(AUGMENTATION_PRESETS['small-dataset']);
  const tensors: Float32Array[] = [];
  const index = [];
  for (const [i, image] of images.entries()) {
    const tensor = preprocess(image, MOBILENET_PREPROCESSING);
    const [view] = trainingViews(image.width, image.height, aug, {
      seed: 7,
      imageKey: path.basename(files[i]!),
      count: 1,
    });
    await writeFile(path.join(dir, `pixels-${i}.bin`), bytes(image.data));
    await copyFile(files[i]!, path.join(dir, `photo-${i}.jpg`));
    await writeFile(path.join(dir, `tensor-${i}.bin`), bytes(tensor));
    await writeFile(
      path.join(dir, `view-${i}.bin`),
      bytes(renderView(image, view!, MOBILENET_PREPROCESSING)),
    );
    tensors.push(tensor);
    index.push({
      file: path.basename(files[i]!),
      width: image.width,
      height: image.height,
      channels: image.channels,
      view,
    });
  }
  const batch = stackBatch(tensors);
  const outputs: Record<string, Record<string, number[]>> = {};
  for (const spec of BACKBONES) {
    const model = await readFile(path.join(TEST_MODELS, spec.id, 'model.onnx'));
    const session = await createWorkerSession(model, { provider: 'cpu', threads: 1 });
    const result = await session.run({
      pixel_values: { data: batch, dims: [tensors.length, 3, 224, 224] },
    });
    await session.release();
    outputs[spec.id] = {};
    for (const [name, t] of Object.entries(result)) {
      await writeFile(path.join(dir, `${spec.id}-${name}.bin`), bytes(t.data));
      outputs[spec.id]![name] = [...t.dims];
    }
  }
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ images: index, outputs }, null, 2),
  );
  await writeImageVariants(path.join(TEST_CACHE, 'images'));
  await writeDatasetFixtures(path.join(TEST_CACHE, 'datasets'));
}

/** One real photo in every encoding the edge must handle (and some it must refuse). */
async function writeImageVariants(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const source = path.join(DATASETS_DIR, 'hymenoptera_data/val/bees/10870992_eebeeb3a12.jpg');
  const photo = () => sharp(source);
  const variants: Record<string, Promise<Buffer>> = {
    'bee.jpg': readFile(source),
    'bee.png': photo().png().toBuffer(),
    'bee-alpha.png': photo().ensureAlpha(0.8).png().toBuffer(),
    'bee-grey16.png': photo().greyscale().toColourspace('grey16').png().toBuffer(),
    'bee.webp': photo().webp({ quality: 95 }).toBuffer(),
    'bee-lossless.webp': photo().webp({ lossless: true }).toBuffer(),
    // Past the decode budget as WebP (decoded whole), well inside it as JPEG (decoded shrunk).
    'bee-2000.webp': photo().resize(2000, 2000, { fit: 'fill' }).webp().toBuffer(),
    'bee-2000.jpg': photo().resize(2000, 2000, { fit: 'fill' }).jpeg().toBuffer(),
    'bee-grey.jpg': photo().greyscale().jpeg().toBuffer(),
    'bee-cmyk.jpg': photo().toColourspace('cmyk').jpeg().toBuffer(),
    'bee-progressive.jpg': photo().jpeg({ progressive: true }).toBuffer(),
    // Stored turned 90° anticlockwise, tagged "rotate 90° clockwise to display": upright when honoured.
    'bee-rotated6.jpg': photo().rotate(270).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
    'bee.gif': photo().gif().toBuffer(),
    'bee.tiff': photo().tiff().toBuffer(),
  };
  for (const [name, data] of Object.entries(variants))
    await writeFile(path.join(dir, name), await data);
}
