// `npm run bench:phone-dataset [-- --out DIR]`: an ImageFolder dataset of phone-sized photos for
// `npm run bench:train -- --dataset DIR`. Phones send 9–12 MP; every shared dataset photo is about
// 500 × 375. This takes the first photos of each hymenoptera class, upscales them (Lanczos) to
// 4000 × 3000 or 3000 × 4000 and writes them as phones do (JPEG quality 90, 4:2:0), so the worker
// decodes real 12 MP files. 15 training and 6 validation photos per class keep the archive under
// the 100 MiB upload limit.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { DATASETS_DIR } from '../test/support/paths.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: '.cache/phone-photos' },
    train: { type: 'string', default: '15' },
    val: { type: 'string', default: '6' },
  },
});

async function main(): Promise<void> {
  const source = path.join(DATASETS_DIR, 'hymenoptera_data');
  let bytes = 0;
  let count = 0;
  for (const split of ['train', 'val'] as const) {
    const take = Number(values[split]);
    for (const label of ['ants', 'bees']) {
      const from = path.join(source, split, label);
      const to = path.join(values.out, split, label);
      await mkdir(to, { recursive: true });
      const files = (await readdir(from)).filter((f) => f.endsWith('.jpg')).sort();
      for (const file of files.slice(0, take)) {
        const image = sharp(path.join(from, file));
        const { width = 4, height = 3 } = await image.metadata();
        const [w, h] = width >= height ? [4000, 3000] : [3000, 4000];
        const jpeg = await image
          .resize(w, h, { fit: 'fill', kernel: 'lanczos3' })
          .jpeg({ quality: 90, chromaSubsampling: '4:2:0' })
          .toBuffer();
        await writeFile(path.join(to, file), jpeg);
        bytes += jpeg.byteLength;
        count++;
      }
    }
  }
  console.log(
    `${count} photos of 12 MP, ${(bytes / 1024 / 1024).toFixed(1)} MiB, in ${values.out} (train/ and val/)`,
  );
}

main().catch((err: unknown) => {
  console.error(`bench:phone-dataset failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
