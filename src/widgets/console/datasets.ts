// Datasets: the list, an upload (a folder zipped in the browser in the ImageFolder layout, or a
// .zip as it is) with progress and the edge's validation report, one dataset's counts and a few
// training photos per class, delete.
import type { DatasetSummary } from './api.js';
import { storedZip } from '../../shared/zip-store.js';
import { errorMessage } from '../client.js';
import { count, h } from '../dom.js';
import { type DatasetReport, parseDatasetReport } from '../training-responses.js';
import { datasetReportView } from '../training-views.js';
import { Thumbnails } from './thumbs.js';
import {
  type Rendered,
  type ViewContext,
  PagedList,
  button,
  confirmed,
  field,
  link,
  table,
  when,
} from './ui.js';

/** One picked file and where it sits under the chosen folder ("photos/train/ants/a.jpg"). */
export interface PickedFile {
  readonly path: string;
  readonly file: File;
}

const CLUTTER = /(^|\/)(__MACOSX|\.DS_Store|Thumbs\.db|desktop\.ini)(\/|$)/;

/**
 * The archive entry names for a picked folder: its own name dropped, and class folders not
 * under train/ or val/ put under train/ (the edge makes the validation split).
 *
 * @example
 * entryPath('photos/ants/a.jpg'); // "train/ants/a.jpg"
 */
export function entryPath(path: string): string {
  const parts = path.split('/').filter(Boolean);
  const rest = parts.length > 1 ? parts.slice(1) : parts;
  if (rest[0] !== 'train' && rest[0] !== 'val') rest.unshift('train');
  return rest.join('/');
}

async function folderZip(files: readonly PickedFile[]): Promise<Uint8Array> {
  const entries: { name: string; data: Uint8Array }[] = [];
  for (const { path, file } of files) {
    if (CLUTTER.test(path)) continue;
    entries.push({ name: entryPath(path), data: new Uint8Array(await file.arrayBuffer()) });
  }
  return storedZip(entries);
}

/** Every file under a dropped folder, with its path from the folder. */
async function walk(entry: FileSystemEntry, prefix: string, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) =>
      (entry as FileSystemFileEntry).file(resolve, reject),
    );
    out.push({ path: `${prefix}${entry.name}`, file });
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject),
    );
    if (batch.length === 0) return;
    for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
  }
}

type Source = { zip: File } | { folder: PickedFile[]; name: string };

function uploadForm(ctx: ViewContext, onUploaded: () => void): HTMLElement {
  const name = h('input', { type: 'text', maxlength: 100, autocomplete: 'off' });
  const folder = h('input', { type: 'file', multiple: true, webkitdirectory: true });
  const zip = h('input', { type: 'file', accept: '.zip,application/zip' });
  const chosen = h('p', { class: 'muted', 'aria-live': 'polite' }, 'Nothing chosen yet.');
  const submit = h('button', { type: 'submit' }, 'Upload');
  const progress = h('progress', { max: 1, value: 0, 'aria-label': 'Upload progress' });
  const progressBox = h('p', { hidden: true }, progress);
  const report = h('div', {});
  let source: Source | null = null;
  const choose = (next: Source | null) => {
    source = next;
    chosen.textContent = !next
      ? 'Nothing chosen yet.'
      : 'zip' in next
        ? `Chosen: ${next.zip.name} (${(next.zip.size / 1024 / 1024).toFixed(1)} MB).`
        : `Chosen: folder ${next.name}, ${next.folder.length} files.`;
    if (next && !name.value)
      name.value = 'zip' in next ? next.zip.name.replace(/\.zip$/i, '') : next.name;
  };
  folder.addEventListener('change', () => {
    const files = [...(folder.files ?? [])].map((file) => ({
      path: file.webkitRelativePath || file.name,
      file,
    }));
    choose(files.length ? { folder: files, name: files[0]!.path.split('/')[0] ?? 'photos' } : null);
  });
  zip.addEventListener('change', () => {
    const file = zip.files?.[0];
    choose(file ? { zip: file } : null);
  });
  const form = h(
    'form',
    { class: 'panel' },
    h('h3', {}, 'Upload a dataset'),
    h(
      'p',
      { class: 'muted' },
      'A folder with one sub-folder of photos per class (or train/ and val/ folders holding them), ' +
        'or the same as a .zip. You can also drop either on this box.',
    ),
    h('div', { class: 'grid' }, field('A folder', folder), field('Or a .zip archive', zip)),
    field('Dataset name', name, 'Optional; defaults to the folder or file name.'),
    chosen,
    h('div', { class: 'actions' }, submit),
    progressBox,
    report,
  );
  form.addEventListener('dragover', (e) => e.preventDefault());
  form.addEventListener('drop', (e) => {
    e.preventDefault();
    const item = e.dataTransfer?.items[0];
    const entry = item?.webkitGetAsEntry();
    const file = e.dataTransfer?.files[0];
    if (entry?.isDirectory) {
      const out: PickedFile[] = [];
      void walk(entry, '', out).then(
        () => choose({ folder: out, name: entry.name }),
        (err: unknown) => ctx.error(err),
      );
    } else if (file) choose({ zip: file });
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!source) return ctx.error(new Error('Choose a folder or a .zip archive first.'));
    const picked = source;
    ctx.clearError();
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    report.replaceChildren();
    progress.value = 0;
    progressBox.hidden = false;
    void (async () => {
      try {
        let bytes: Uint8Array;
        if ('zip' in picked) bytes = new Uint8Array(await picked.zip.arrayBuffer());
        else {
          ctx.say('Packing the folder…');
          bytes = await folderZip(picked.folder);
        }
        ctx.say(`Uploading ${(bytes.byteLength / 1024 / 1024).toFixed(1)} MB…`);
        const body = await ctx.api.upload(bytes, name.value.trim(), (f) => (progress.value = f));
        progress.value = 1;
        const dataset = parseDatasetReport(body);
        ctx.say(`Uploaded and checked: dataset ${dataset.id}.`);
        report.replaceChildren(
          ...datasetReportView(dataset),
          h('p', {}, link(`#datasets/${dataset.id}`, 'Open the dataset')),
        );
        choose(null);
        onUploaded();
        name.value = '';
        folder.value = '';
        zip.value = '';
      } catch (err) {
        ctx.say('The upload was refused.');
        ctx.error(err);
      } finally {
        submit.disabled = false;
        form.removeAttribute('aria-busy');
      }
    })();
  });
  return form;
}

function deleteAction(
  ctx: ViewContext,
  id: string,
  label: string,
  after: string,
): HTMLButtonElement {
  return button(
    'Delete',
    () => {
      if (!confirmed(`Delete dataset ${label}? Its photos are removed; heads trained on it stay.`))
        return;
      ctx.api.deleteDataset(id).then(
        () => {
          ctx.say(`Deleted dataset ${label}.`);
          ctx.go(after);
        },
        (err: unknown) => ctx.error(err),
      );
    },
    true,
    `Delete dataset ${label}`,
  );
}

function countsTable(dataset: DatasetReport): HTMLElement {
  return table(
    'Photos per class',
    ['Class', 'Training', 'Validation'],
    dataset.classes.map((c) => [
      c,
      count(dataset.counts.train[c] ?? 0),
      count(dataset.counts.val[c] ?? 0),
    ]),
  );
}

/** Photos shown per class on a dataset's page. */
const THUMBS_PER_CLASS = 6;

/**
 * Up to THUMBS_PER_CLASS training photos of each class, filled in after the view shows (one list
 * request per class, through the same few-at-a-time queue as the photos).
 */
function classPhotos(ctx: ViewContext, dataset: DatasetReport): HTMLElement {
  const thumbs = new Thumbnails(ctx.api, ctx.signal);
  const box = h('section', {}, h('h3', {}, 'Training photos'));
  for (const label of dataset.classes) {
    const total = dataset.counts.train[label] ?? 0;
    const shown = Math.min(total, THUMBS_PER_CLASS);
    const photos = h('ul', { class: 'thumbs', 'aria-label': `Training photos of ${label}` });
    box.append(
      h('h4', {}, `${label}: ${shown} of ${count(total)} training photo${total === 1 ? '' : 's'}`),
      photos,
    );
    if (shown === 0) continue;
    thumbs.run(async () => {
      try {
        const images = await ctx.api.datasetImages(
          dataset.id,
          { split: 'train', label, limit: THUMBS_PER_CLASS },
          ctx.signal,
        );
        photos.replaceChildren(
          ...images.map((image) =>
            h(
              'li',
              {},
              thumbs.image(
                dataset.id,
                image.sha256,
                `${label}: ${image.path.split('/').pop() ?? image.path}`,
              ),
            ),
          ),
        );
      } catch (err) {
        if (ctx.signal.aborted) return;
        photos.replaceWith(
          h(
            'p',
            { class: 'muted' },
            `The photos of ${label} could not be loaded: ${errorMessage(err)}`,
          ),
        );
      }
    });
  }
  return box;
}

/** #datasets (list and upload) and #datasets/ID (one dataset). */
export async function datasetsView(ctx: ViewContext, id: string | null): Promise<Rendered> {
  if (id) {
    const raw = await ctx.api.dataset(id, ctx.signal);
    const dataset = parseDatasetReport(raw);
    const name =
      typeof (raw as { name?: unknown }).name === 'string' ? (raw as { name: string }).name : id;
    return {
      title: `Dataset ${name}`,
      nodes: [
        h('p', { class: 'muted' }, `Id ${dataset.id} · ${dataset.classes.length} classes`),
        countsTable(dataset),
        classPhotos(ctx, dataset),
        ...datasetReportView(dataset),
        h(
          'div',
          { class: 'actions' },
          h(
            'a',
            { href: `#jobs?dataset=${encodeURIComponent(dataset.id)}` },
            'Fine-tune on this dataset',
          ),
          deleteAction(ctx, dataset.id, name, '#datasets'),
        ),
      ],
    };
  }
  const datasets = new PagedList(
    ctx,
    'datasets',
    (cursor) => ctx.api.datasetsPage(cursor, ctx.signal),
    (shown: readonly DatasetSummary[]) =>
      shown.length
        ? table(
            'Your datasets',
            ['Name', 'Classes', 'Images', 'Uploaded', 'Actions'],
            shown.map((d) => [
              link(`#datasets/${d.id}`, d.name ?? d.id),
              String(d.classCount),
              count(d.imageCount),
              when(d.createdAt),
              deleteAction(ctx, d.id, d.name ?? d.id, '#datasets'),
            ]),
          )
        : h('p', {}, 'No datasets yet: upload one below.'),
  );
  await datasets.load();
  const refresh = () => void datasets.load().catch((err: unknown) => ctx.error(err));
  return { title: 'Datasets', nodes: [datasets.element, uploadForm(ctx, refresh)] };
}
