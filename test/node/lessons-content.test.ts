// The lesson files themselves: they parse, the transfer-learning lesson covers its topics, its
// Python compiles, its API examples use documented endpoints, and its text is our own.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { WIDGET_NAMES, codeBlocks, parseLesson } from '../../src/shared/lessons.js';
import {
  LESSON_FIGURE,
  ResultsSchema,
  quotedFigures,
  renderFigures,
  updateReadmeFigures,
} from '../../src/shared/figures.js';
import { figurePages, quotesFigures } from '../../scripts/figures.js';
import { SHARED_DIR } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const LESSONS_DIR = path.join(ROOT, 'lessons');
const lessonFiles = readdirSync(LESSONS_DIR)
  .filter((f) => f.endsWith('.md') && f !== 'README.md')
  .sort();
const read = (file: string) => readFileSync(file, 'utf8');

const source = read(path.join(LESSONS_DIR, 'cv-transfer-learning.md'));
const lesson = parseLesson(source);
const blocks = codeBlocks(lesson.body);
const headings = lesson.body
  .split('\n')
  .filter((line) => /^#{1,6} /.test(line))
  .join('\n');

describe('lesson files', () => {
  it('include the transfer-learning lesson', () => {
    expect(lessonFiles).toContain('cv-transfer-learning.md');
  });

  it.each(lessonFiles)('%s parses and its id matches its file name', (file) => {
    const { frontmatter } = parseLesson(read(path.join(LESSONS_DIR, file)));
    expect(`${frontmatter.id}.md`).toBe(file);
  });

  it.each(lessonFiles)('%s is bundled into the edge catalogue', (file) => {
    const catalog = read(path.join(ROOT, 'src', 'edge', 'lessons', 'catalog.ts'));
    expect(catalog).toContain(`from '../../../lessons/${file}'`);
    expect(catalog).toContain(`'${file}':`);
  });
});

describe('cv-transfer-learning: frontmatter, widgets and quiz', () => {
  it('has the agreed frontmatter', () => {
    const { title, summary, ...fixed } = lesson.frontmatter;
    expect(fixed).toEqual({
      id: 'cv-transfer-learning',
      type: 'lesson',
      duration: 50,
      order: 4,
      section: 'deep-learning',
      previous: 'cv-cnns',
      next: 'cv-object-detection',
      widgets: [...WIDGET_NAMES],
    });
    expect(title.length).toBeGreaterThan(5);
    expect(summary.length).toBeGreaterThan(20);
  });

  it('places each listed widget once, on its own line, and no unlisted one', () => {
    for (const name of lesson.frontmatter.widgets) {
      const lines = lesson.body.split('\n').filter((l) => l.includes(`<${name}`));
      expect(lines, name).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^<${name}(\\s[^>]*)?></${name}>$`));
    }
    const used = new Set([...lesson.body.matchAll(/<(headstart-[a-z-]+)/g)].map((m) => m[1]));
    expect([...used].sort()).toEqual([...lesson.frontmatter.widgets].sort());
  });

  it('asks about choosing a model for a latency budget and using a pretrained classifier as it is', () => {
    const prompts = lesson.quiz!.questions.map((q) => q.prompt);
    expect(prompts.some((p) => /\bms\b|latency|budget/i.test(p))).toBe(true);
    expect(prompts.some((p) => /ImageNet's classes|among ImageNet/i.test(p))).toBe(true);
  });

  it('gives nothing away by length: the right answer is the longest in at most 3 questions', () => {
    const longest = lesson.quiz!.questions.filter((q) => {
      const lengths = q.options.map((o) => o.text.length);
      const right = q.options.find((o) => o.correct)!.text.length;
      return lengths.filter((l) => l >= right).length === 1;
    });
    expect(longest.map((q) => q.id).length).toBeLessThanOrEqual(3);
  });

  it('has a quiz of at least 6 questions, 3–4 options each, every option explained', () => {
    const quiz = lesson.quiz!;
    expect(quiz.questions.length).toBeGreaterThanOrEqual(6);
    for (const q of quiz.questions) {
      expect(q.options.length, q.id).toBeGreaterThanOrEqual(3);
      expect(q.options.length, q.id).toBeLessThanOrEqual(4);
      expect(
        q.options.filter((o) => o.correct),
        q.id,
      ).toHaveLength(1);
      for (const o of q.options)
        expect(o.explanation.trim().length, `${q.id}.${o.id}`).toBeGreaterThan(10);
    }
  });
});

describe('cv-transfer-learning: topics', () => {
  it.each([
    ['why transfer learning works', /why transfer learning works/i],
    ['the strategies', /strateg/i],
    ['feature extraction', /feature extraction/i],
    ['partial fine-tuning', /partial fine-tuning/i],
    ['full fine-tuning', /full fine-tuning/i],
    ['the training pipeline', /pipeline/i],
    ['StepLR', /StepLR/],
    ['keeping the best epoch', /best epoch/i],
    ['choosing a model', /choosing a pretrained model/i],
    ['a pretrained classifier as it is', /pretrained classifier as it is/i],
    ['discriminative learning rates', /discriminative learning rates/i],
    ['gradual unfreezing', /unfreeze gradually|gradual unfreezing/i],
    ['augmentation', /augmentation/i],
    ['BatchNorm with small batches', /batchnorm/i],
    ['overfitting', /overfitting/i],
    ['Headstart', /how headstart does it/i],
    ['the knowledge check', /check your understanding|knowledge check/i],
  ])('has a heading for %s', (_topic, pattern) => {
    expect(headings).toMatch(pattern);
  });

  it.each([
    ['early, middle and late layers', /early layers[\s\S]*middle layers[\s\S]*late layers/i],
    ['resize and centre crop', /Resize\(256\)[\s\S]*CenterCrop\(224\)/],
    ['ImageNet statistics', /0\.485, 0\.456, 0\.406[\s\S]*0\.229, 0\.224, 0\.225/],
    ['augmentations', /RandomResizedCrop[\s\S]*Flip[\s\S]*ColorJitter[\s\S]*RandomRotation/],
    ['a dropout + linear head', /nn\.Dropout\(0\.5\), nn\.Linear/],
    ['cross-entropy', /CrossEntropyLoss/],
    ['Adam', /optim\.Adam\(/],
    ['StepLR(7, 0.1)', /StepLR\(optimizer, step_size=7, gamma=0\.1\)/],
    ['the best-epoch copy', /copy\.deepcopy\(net\.state_dict\(\)\)/],
    ['model families', /ResNet[\s\S]*EfficientNet[\s\S]*MobileNet[\s\S]*ViT/],
    [
      'our backbones',
      /mobilenet-v2-1\.0[\s\S]*mobilenet-v1-0\.75[\s\S]*mobilenet-v2-0\.35[\s\S]*mobilenet-v1-0\.25/,
    ],
    [
      'our measured inference',
      /\{\{figure:backbone\.mobilenet-v2-0\.35\.node_ms\}\}[\s\S]*\{\{figure:backbone\.mobilenet-v2-0\.35\.workerd_ms\}\}/,
    ],
    [
      'our measured heads',
      /\{\{figure:train\.hymenoptera_data\.mobilenet-v2-1\.0\.val_acc\}\}[\s\S]*\{\{figure:train\.flower_photos_subset\.mobilenet-v2-1\.0\.val_acc\}\}/,
    ],
    ['ImageNet labels', /1,000 (ImageNet )?(classes|labels)/],
    ['the headstart preset', /`headstart` preset/],
  ])('covers %s', (_topic, pattern) => {
    expect(lesson.body).toMatch(pattern);
  });
});

describe('cv-transfer-learning: code blocks', () => {
  it('marks each fence with its language only', () => {
    const lines = lesson.body.split('\n');
    for (const block of blocks) {
      expect(['python', 'bash', 'ts', 'json']).toContain(block.lang);
      expect(lines[block.line - 1]).toBe(`\`\`\`${block.lang}`);
    }
    expect(blocks.filter((b) => b.lang === 'python').length).toBeGreaterThanOrEqual(4);
  });

  it('has JSON blocks that parse', () => {
    for (const block of blocks.filter((b) => b.lang === 'json'))
      expect(() => JSON.parse(block.code) as unknown, `line ${block.line}`).not.toThrow();
  });

  it('has Python blocks that all compile', async () => {
    const dir = await tempDir('lesson-python');
    for (const block of blocks.filter((b) => b.lang === 'python')) {
      const file = path.join(dir, `block_line_${block.line}.py`);
      writeFileSync(file, `${block.code}\n`);
      try {
        execFileSync('python3', ['-m', 'py_compile', file], { stdio: 'pipe' });
      } catch (err) {
        const failure = err as NodeJS.ErrnoException & { stderr?: Buffer };
        if (failure.code === 'ENOENT')
          throw new Error('python3 is not installed: it is needed to compile the lesson code');
        throw new Error(
          `the python block at body line ${block.line} does not compile:\n${failure.stderr?.toString() ?? failure.message}`,
        );
      }
    }
  });

  it('has at most 5 bash blocks, all curl against $HEADSTART_URL with $HEADSTART_API_KEY', () => {
    const bash = blocks.filter((b) => b.lang === 'bash');
    expect(bash.length).toBeGreaterThanOrEqual(1);
    expect(bash.length).toBeLessThanOrEqual(5);
    for (const block of bash) {
      expect(block.code).toContain('curl ');
      expect(block.code).toContain('"$HEADSTART_URL/v1/');
      expect(block.code).toContain('$HEADSTART_API_KEY');
      expect(block.code).not.toMatch(/https?:\/\//);
    }
  });

  it('uses only endpoints that docs/api.md documents', () => {
    const documented = apiEndpoints();
    const used = blocks
      .filter((b) => b.lang === 'bash' || b.lang === 'ts')
      .flatMap((b) => [...b.code.matchAll(/\/v1\/[^\s"'`?]*/g)].map((m) => template(m[0])));
    expect(used.length).toBeGreaterThanOrEqual(4);
    for (const endpoint of used) expect(documented.has(endpoint), endpoint).toBe(true);
  });
});

describe('cv-transfer-learning: our own words', () => {
  const seedText = read(path.join(SHARED_DIR, 'seed', 'transfer-learning-lesson.md'));

  it('shares no run of 8 words with the seed lesson, prose or code', () => {
    const seed = words(seedText);
    const runs = new Set<string>();
    for (let i = 0; i + 8 <= seed.length; i++) runs.add(seed.slice(i, i + 8).join(' '));
    const mine = words(source);
    const copied: string[] = [];
    for (let i = 0; i + 8 <= mine.length; i++) {
      const run = mine.slice(i, i + 8).join(' ');
      if (runs.has(run)) copied.push(run);
    }
    expect(copied).toEqual([]);
  });

  it('has no code line identical to one of the seed (imports and one-token idioms aside)', () => {
    const seedLines = new Set(codeLines(seedText));
    const copied = codeLines(source).filter((line) => seedLines.has(line));
    expect(copied).toEqual([]);
  });
});

describe('cv-transfer-learning: measured figures', () => {
  const results = ResultsSchema.parse(JSON.parse(read(path.join(ROOT, 'bench', 'results.json'))));

  it('quotes every figure from bench/results.json, with its command and date', () => {
    const quoted = quotedFigures(source);
    expect(quoted.length).toBeGreaterThanOrEqual(10);
    for (const key of quoted) {
      expect(results.figures[key], `bench/results.json has no figure "${key}"`).toBeDefined();
      expect(results.figures[key]!.command).toMatch(/\S/);
    }
    // Rendering replaces every placeholder.
    expect(renderFigures(lesson.body, results)).not.toMatch(/\{\{figure:/);
  });

  it('types no measured figure into its prose: times and accuracies come from the results file', () => {
    const typed: string[] = [];
    for (const line of proseLines(lesson.body)) {
      const bare = line.replace(LESSON_FIGURE, '');
      // Milliseconds, fractional seconds and three-decimal accuracies are measurements; the
      // ImageNet channel statistics (0.485, …) are not.
      if (/\b\d+(\.\d+)?\s?ms\b|\b\d+\.\d+\s?s\b/.test(bare)) typed.push(line);
      else if (/\b0\.\d{3}\b/.test(bare) && !/mean|deviation|0\.485/.test(bare)) typed.push(line);
    }
    expect(typed).toEqual([]);
  });

  it('README.md and the docs pages quote the current figures (npm run figures)', () => {
    const pages = figurePages(ROOT);
    expect(pages).toContain('README.md');
    expect(pages).toContain('docs/benchmarks.md');
    const quoting = pages.filter((page) => quotesFigures(read(path.join(ROOT, page))));
    expect(quoting, 'docs/benchmarks.md quotes figures').toContain('docs/benchmarks.md');
    for (const page of pages) {
      const text = read(path.join(ROOT, page));
      expect(updateReadmeFigures(text, results) === text, `${page}: run npm run figures`).toBe(
        true,
      );
    }
  });
});

/** `/v1/fine-tunes/$JOB_ID/events` and `/v1/fine-tunes/{id}/events` → `/v1/fine-tunes/{}/events`. */
function template(urlPath: string): string {
  return urlPath
    .replace(/[.,;:)]+$/, '')
    .split('/')
    .map((segment) => (/^[$:{]/.test(segment) ? '{}' : segment))
    .join('/');
}

/** The `/v1/...` paths named in the API reference, docs/api.md (all of it: it is one section). */
function apiEndpoints(): Set<string> {
  const page = read(path.join(ROOT, 'docs', 'api.md'));
  expect(page.startsWith('# API\n'), 'docs/api.md is the "# API" reference').toBe(true);
  return new Set([...page.matchAll(/\/v1\/[A-Za-z0-9_{}\-/.]*/g)].map((m) => template(m[0])));
}

/** Lower-case words (`0.485` and `nn.linear` are one word each): markup and spacing hide no copy. */
function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+(?:\.[a-z0-9]+)*/g) ?? [];
}

/**
 * Code lines of fenced blocks, comments and spacing removed, leaving out import lines and
 * idioms of fewer than four words (`loss.backward()`, `)`), which any code says the same way.
 */
function codeLines(text: string): string[] {
  const lines: string[] = [];
  for (const block of text.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) {
    for (const raw of block[1]!.split('\n')) {
      const line = raw.replace(/#.*$/, '').replace(/\s+/g, '');
      if (/^(import|from)\b/.test(raw.trim()) || words(raw.replace(/#.*$/, '')).length < 4)
        continue;
      lines.push(line);
    }
  }
  return lines;
}

/** The lesson's prose lines: outside fenced blocks (code and the quiz). */
function proseLines(body: string): string[] {
  let fenced = false;
  return body.split('\n').filter((line) => {
    if (line.startsWith('```')) fenced = !fenced;
    return !fenced && !line.startsWith('```');
  });
}
