// The JPEG decoder of the decoding contract, against independent decoders: at full size it gives
// photon's pixels (rounding apart), shrunk it stays close to libjpeg-turbo's own scaled decoding
// (`djpeg -scale 1/N`), a progressive file decodes to exactly the pixels of the baseline file
// with the same coefficients at every scale, restart markers change nothing, and what it cannot
// decode is refused with DecodeError.
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PhotonImage } from '@cf-wasm/photon/node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeJpegScaled, jpegDecodeBytes, readJpegInfo } from '../../src/shared/codecs/jpeg.js';
import { DECODE_SCALES } from '../../src/shared/codecs/scale.js';
import { DecodeError } from '../../src/shared/decode.js';
import type { RgbImage } from '../../src/shared/image.js';
import { DATASETS_DIR, TEST_CACHE } from '../support/paths.js';
import { cameraPhotos } from '../support/photos.js';
import { tempDir } from '../support/temp.js';

const BEE = path.join(DATASETS_DIR, 'hymenoptera_data', 'val', 'bees', '10870992_eebeeb3a12.jpg');
const CANON = path.join(DATASETS_DIR, 'camera_photos', 'canon_hdr_NO.jpg');

/** Mean and largest absolute difference of two RGB images of one size. */
function compare(a: RgbImage, b: { width: number; height: number; data: ArrayLike<number> }) {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / a.data.length, max };
}

const differingBytes = (a: RgbImage, b: RgbImage) => {
  let n = 0;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) n++;
  return n + Math.abs(a.data.length - b.data.length);
};

/** photon's full-size decode as RGB (it returns RGBA). */
function photonRgb(bytes: Uint8Array): RgbImage {
  const image = PhotonImage.new_from_byteslice(bytes);
  const rgba = image.get_raw_pixels();
  const width = image.get_width();
  const height = image.get_height();
  image.free();
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgba.subarray(i * 4, i * 4 + 3), i * 3);
  return { width, height, channels: 3, data };
}

/** libjpeg-turbo's scaled decode (Debian's libjpeg-turbo-progs, installed by .ci/run). */
function djpeg(file: string, scale: number): { width: number; height: number; data: Buffer } {
  const out = execFileSync('djpeg', ['-scale', `1/${scale}`, '-ppm', file], {
    maxBuffer: 1 << 28,
  });
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(out.subarray(0, 64).toString('latin1'));
  if (!header) throw new Error('djpeg did not write a binary PPM');
  return {
    width: Number(header[1]),
    height: Number(header[2]),
    data: out.subarray(header[0].length),
  };
}

const bytesOf = async (file: string) => new Uint8Array(await readFile(file));

describe('the JPEG decoder', () => {
  it('gives photon’s pixels at full size, within rounding, in every encoding', async () => {
    const files = [
      BEE,
      ...(await cameraPhotos()),
      ...['bee-progressive.jpg', 'bee-cmyk.jpg', 'bee-grey.jpg', 'bee-rotated6.jpg'].map((f) =>
        path.join(TEST_CACHE, 'images', f),
      ),
    ];
    const oneComponent = new Uint8Array(await sharp(BEE).toColourspace('b-w').jpeg().toBuffer());
    expect(readJpegInfo(oneComponent).components).toBe(1);
    const inputs = [
      ...(await Promise.all(files.map(async (f) => [path.basename(f), await bytesOf(f)] as const))),
      ['one-component', oneComponent] as const,
    ];
    for (const [name, bytes] of inputs) {
      const { mean, max } = compare(decodeJpegScaled(bytes, 1), photonRgb(bytes));
      expect(mean, name).toBeLessThan(0.5);
      expect(max, name).toBeLessThanOrEqual(4);
    }
  });

  it('stays close to libjpeg-turbo’s scaled decoding at 1/2, 1/4 and 1/8', async () => {
    for (const file of [BEE, CANON, path.join(DATASETS_DIR, 'camera_photos', 'jolla.jpg')]) {
      const bytes = await bytesOf(file);
      for (const scale of DECODE_SCALES) {
        const { mean } = compare(decodeJpegScaled(bytes, scale), djpeg(file, scale));
        // libjpeg-turbo repeats chroma at 1/8 where we interpolate it; the rest is rounding.
        expect(mean, `${path.basename(file)} at 1/${scale}`).toBeLessThan(2.5);
      }
    }
  });

  it('decodes a progressive file to exactly its baseline twin’s pixels at every scale', async () => {
    for (const chromaSubsampling of ['4:2:0', '4:4:4'] as const) {
      const encode = (progressive: boolean) =>
        sharp(CANON).jpeg({ quality: 90, chromaSubsampling, progressive }).toBuffer();
      const baseline = new Uint8Array(await encode(false));
      const progressive = new Uint8Array(await encode(true));
      expect(readJpegInfo(progressive).progressive).toBe(true);
      for (const scale of DECODE_SCALES) {
        const a = decodeJpegScaled(baseline, scale);
        const b = decodeJpegScaled(progressive, scale);
        expect(differingBytes(a, b), `${chromaSubsampling} at 1/${scale}`).toBe(0);
      }
    }
  });

  it('gives the same pixels with restart markers (jpegtran -restart), baseline and progressive', async () => {
    const dir = await tempDir('jpeg-restart');
    const source = path.join(dir, 'source.jpg');
    await writeFile(source, await sharp(BEE).jpeg({ quality: 92 }).toBuffer());
    const variants = [
      ['-restart', '1'],
      ['-restart', '3B'],
      ['-progressive', '-restart', '2'],
    ];
    const plain = await bytesOf(source);
    for (const args of variants) {
      const marked = new Uint8Array(execFileSync('jpegtran', [...args, source]));
      expect(marked.includes(0xdd), args.join(' ')).toBe(true);
      for (const scale of DECODE_SCALES)
        expect(
          differingBytes(decodeJpegScaled(plain, scale), decodeJpegScaled(marked, scale)),
          `${args.join(' ')} at 1/${scale}`,
        ).toBe(0);
    }
  });

  it('keeps a 40-megapixel photo within a few MB when shrunk by 8', () => {
    const baseline = {
      width: 7746,
      height: 5164,
      components: 3,
      progressive: false,
      sampling: [
        { h: 2, v: 2 },
        { h: 1, v: 1 },
        { h: 1, v: 1 },
      ],
    };
    expect(jpegDecodeBytes(baseline, 8)).toBeLessThan(4 * 1024 * 1024);
    // Progressive files keep coefficients between scans: only the DC term at 1/8.
    expect(jpegDecodeBytes({ ...baseline, progressive: true }, 8)).toBeLessThan(16 * 1024 * 1024);
    expect(jpegDecodeBytes(baseline, 1)).toBeGreaterThan(40e6);
  });

  it('refuses what it cannot decode with DecodeError, naming why', async () => {
    const dir = await tempDir('jpeg-refusals');
    const source = path.join(dir, 'bee.jpg');
    await writeFile(source, await bytesOf(BEE));
    const arithmetic = new Uint8Array(execFileSync('jpegtran', ['-arithmetic', source]));
    const bee = await bytesOf(BEE);
    const badTable = bee.slice();
    const dht = badTable.findIndex((v, i) => v === 0xff && badTable[i + 1] === 0xc4);
    badTable.fill(0xff, dht + 5, dht + 21);
    const cases: [string, Uint8Array, RegExp][] = [
      ['arithmetic coding', arithmetic, /arithmetic/],
      ['a garbage Huffman table', badTable, /Huffman/],
      ['a file cut after its headers', bee.slice(0, 700), /truncated|no image data/],
      ['no SOI marker', bee.slice(2), /not a JPEG/],
    ];
    for (const [what, bytes, message] of cases) {
      let error: unknown;
      try {
        decodeJpegScaled(bytes, 4);
      } catch (err) {
        error = err;
      }
      expect(error, what).toBeInstanceOf(DecodeError);
      expect(String(error), what).toMatch(message);
    }
  });
});
