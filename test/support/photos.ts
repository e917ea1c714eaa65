// Real photos from ../shared/datasets, decoded with sharp into the shared RgbImage shape.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../../src/shared/image.js';
import { DATASETS_DIR } from './paths.js';

/** Decodes a photo (EXIF orientation applied) to 8-bit RGB. */
export async function decodePhoto(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(file)
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${file}: decoded to ${info.channels} channels`);
  return {
    width: info.width,
    height: info.height,
    channels: 3,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** The first `n` JPEG files (sorted by name) of one dataset class folder. */
export async function photosOf(relativeDir: string, n = Infinity): Promise<string[]> {
  const dir = path.join(DATASETS_DIR, relativeDir);
  const names = (await readdir(dir)).filter((f) => /\.jpe?g$/i.test(f)).sort();
  return names.slice(0, n).map((f) => path.join(dir, f));
}

/** A fixed, varied set of real photos: ants, bees and the five flower classes. */
export async function parityPhotos(): Promise<string[]> {
  const groups = await Promise.all([
    photosOf('hymenoptera_data/val/bees', 2),
    photosOf('hymenoptera_data/val/ants', 2),
    ...['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips'].map((c) =>
      photosOf(`flower_photos_subset/val/${c}`, 1),
    ),
  ]);
  return groups.flat();
}

/** The full-size camera and phone photos (3–9 MP, EXIF intact; the Canon one is orientation 6). */
export async function cameraPhotos(): Promise<string[]> {
  const dir = path.join(DATASETS_DIR, 'camera_photos');
  return (await readdir(dir))
    .filter((f) => /\.jpe?g$/i.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}
