// Builds the ImageFolder archive the datasets API takes (train/<class>/<file>) in the browser,
// after the same class-name rules the edge applies, so a mistake is caught before the upload.
import { storedZip } from '../shared/zip-store.js';

/** One class as the reader named it, with the photos they picked. */
export interface ClassImages {
  readonly name: string;
  readonly files: readonly File[];
}

/** Classes a dataset may have in this widget (the API allows more). */
export const MIN_CLASSES = 2;
export const MAX_CLASSES = 5;
/** The edge needs at least two training images per class (DEFAULT_DATASET_LIMITS). */
export const MIN_IMAGES_PER_CLASS = 2;
/** The edge refuses archives over 100 MiB. */
const MAX_ARCHIVE_BYTES = 100 * 1024 * 1024;

const isControlOrSlash = (ch: string): boolean => {
  const code = ch.charCodeAt(0);
  return code < 0x20 || code === 0x7f || ch === '/' || ch === '\\';
};

/**
 * Why the edge would refuse `name` as a class (a folder name), or null when it is fine.
 *
 * @example
 * classNameProblem('ants/bees'); // "“ants/bees”: no slashes or control characters"
 */
export function classNameProblem(name: string): string | null {
  if (name === '') return 'every class needs a name';
  if (name.length > 128) return `“${name.slice(0, 20)}…”: at most 128 characters`;
  if ([...name].some(isControlOrSlash)) return `“${name}”: no slashes or control characters`;
  if (name.startsWith('.')) return `“${name}”: must not start with a dot`;
  return null;
}

/**
 * Everything wrong with `classes` as one sentence per problem (empty when it can be uploaded).
 *
 * @example
 * datasetProblems([{ name: 'cats', files: [a, b] }, { name: 'cats', files: [c, d] }]); // ['“cats” is used twice']
 */
export function datasetProblems(classes: readonly ClassImages[]): string[] {
  const problems: string[] = [];
  if (classes.length < MIN_CLASSES || classes.length > MAX_CLASSES)
    problems.push(`Use between ${MIN_CLASSES} and ${MAX_CLASSES} classes.`);
  const seen = new Set<string>();
  for (const { name, files } of classes) {
    const problem = classNameProblem(name);
    if (problem) problems.push(`Class name ${problem}.`);
    else if (seen.has(name)) problems.push(`The class name “${name}” is used twice.`);
    seen.add(name);
    if (files.length < MIN_IMAGES_PER_CLASS)
      problems.push(`Pick at least ${MIN_IMAGES_PER_CLASS} photos for “${name || 'unnamed'}”.`);
  }
  const bytes = classes.reduce((n, c) => n + c.files.reduce((m, f) => m + f.size, 0), 0);
  if (bytes > MAX_ARCHIVE_BYTES) problems.push('The photos add up to more than 100 MB.');
  return problems;
}

/** A file name that is one safe, visible path segment, unique within its class folder. */
function entryName(file: File, taken: Set<string>): string {
  const cleaned = [...file.name].map((ch) => (isControlOrSlash(ch) ? '_' : ch)).join('');
  const base = cleaned.replace(/^\.+/, '') || 'image';
  const dot = base.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, ''];
  let name = base;
  for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${stem}-${n}${ext}`;
  taken.add(name.toLowerCase());
  return name;
}

/**
 * The ImageFolder zip for `classes` (stored, not compressed: photos are already compressed).
 * The edge makes the validation split itself.
 *
 * @example
 * const zip = await imageFolderZip([{ name: 'ants', files }, { name: 'bees', files: more }]);
 */
export async function imageFolderZip(classes: readonly ClassImages[]): Promise<Uint8Array> {
  const entries: { name: string; data: Uint8Array }[] = [];
  for (const { name, files } of classes) {
    const taken = new Set<string>();
    for (const file of files) {
      entries.push({
        name: `train/${name}/${entryName(file, taken)}`,
        data: new Uint8Array(await file.arrayBuffer()),
      });
    }
  }
  return storedZip(entries);
}
