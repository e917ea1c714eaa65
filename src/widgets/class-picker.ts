// The trainer's class list: 2–5 named classes, each with the photos the reader picked for it.
import { IMAGE_TYPES } from './classify-panel.js';
import { type ClassImages, MAX_CLASSES, MIN_CLASSES } from './dataset-zip.js';
import { h } from './dom.js';

interface Row {
  readonly element: HTMLFieldSetElement;
  readonly legend: HTMLLegendElement;
  readonly name: HTMLInputElement;
  readonly files: HTMLInputElement;
  readonly remove: HTMLButtonElement;
}

const DEFAULT_NAMES = ['class A', 'class B'];

/**
 * Editable class rows with file inputs (multiple), an "add" and a "remove" button.
 *
 * @example
 * const picker = new ClassPicker();
 * form.append(picker.element);
 * upload(picker.classes());
 */
export class ClassPicker {
  readonly element: HTMLDivElement;
  private readonly list: HTMLDivElement;
  private readonly add: HTMLButtonElement;
  private readonly rows: Row[] = [];
  private disabled = false;

  constructor() {
    this.list = h('div', { class: 'classes' });
    this.add = h('button', { type: 'button', class: 'secondary' }, 'Add a class');
    this.add.addEventListener('click', () => {
      this.addRow(`class ${String.fromCharCode(65 + this.rows.length)}`);
      this.rows.at(-1)?.name.focus();
    });
    this.element = h('div', {}, this.list, h('div', { class: 'actions' }, this.add));
    for (const name of DEFAULT_NAMES) this.addRow(name);
  }

  /** The classes as named now (trimmed) with their chosen files. */
  classes(): ClassImages[] {
    return this.rows.map((row) => ({
      name: row.name.value.trim(),
      files: [...(row.files.files ?? [])],
    }));
  }

  /** Locks the inputs while a dataset is uploading or a job runs. */
  setDisabled(disabled: boolean): void {
    this.disabled = disabled;
    for (const row of this.rows) {
      row.name.disabled = disabled;
      row.files.disabled = disabled;
    }
    this.refresh();
  }

  private addRow(initialName: string): void {
    const legend = h('legend', {});
    const name = h('input', {
      type: 'text',
      value: initialName,
      maxlength: 128,
      autocomplete: 'off',
      spellcheck: 'false',
    });
    const files = h('input', { type: 'file', multiple: true, accept: IMAGE_TYPES.join(',') });
    const chosen = h('span', { class: 'muted', 'aria-live': 'polite' }, 'No photos yet');
    const remove = h('button', { type: 'button', class: 'secondary' }, 'Remove');
    const element = h(
      'fieldset',
      {},
      legend,
      h(
        'div',
        { class: 'class-row' },
        h('label', {}, 'Name', name),
        h('label', {}, 'Photos', files, chosen),
        remove,
      ),
    );
    const row: Row = { element, legend, name, files, remove };
    files.addEventListener('change', () => {
      const n = files.files?.length ?? 0;
      chosen.textContent = n === 0 ? 'No photos yet' : n === 1 ? '1 photo' : `${n} photos`;
    });
    name.addEventListener('input', () => this.refresh());
    remove.addEventListener('click', () => {
      const at = this.rows.indexOf(row);
      if (at < 0 || this.rows.length <= MIN_CLASSES) return;
      this.rows.splice(at, 1);
      element.remove();
      this.refresh();
      (this.rows[at] ?? this.rows[at - 1])?.name.focus();
    });
    this.rows.push(row);
    this.list.append(element);
    this.refresh();
  }

  /** Legends and button labels follow the names; add/remove respect 2–5 classes. */
  private refresh(): void {
    this.rows.forEach((row, i) => {
      const label = row.name.value.trim() || 'unnamed';
      row.legend.textContent = `Class ${i + 1}: ${label}`;
      row.remove.setAttribute('aria-label', `Remove class ${i + 1} (${label})`);
      row.remove.disabled = this.disabled || this.rows.length <= MIN_CLASSES;
    });
    this.add.disabled = this.disabled || this.rows.length >= MAX_CLASSES;
  }
}
