// Lesson markdown → HTML: headings with anchors, code highlighted on the server (no scripts
// needed to read a lesson), and widgets given content that makes sense before any JavaScript runs.
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import typescript from 'highlight.js/lib/languages/typescript';
import { Marked, type Tokens } from 'marked';
import type { PublicQuiz } from '../../shared/lessons.js';
import { escapeHtml } from '../html/escape.js';

hljs.registerLanguage('python', python);
hljs.registerLanguage('bash', bash);
hljs.registerLanguage('json', json);
hljs.registerLanguage('typescript', typescript);
hljs.registerAliases(['ts'], { languageName: 'typescript' });
hljs.registerAliases(['sh', 'shell'], { languageName: 'bash' });

/** A heading's anchor: lowercase words joined by dashes. */
export const slug = (text: string): string =>
  text
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/&[a-z]+;|&#\d+;/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

function markdown(): Marked {
  const seen = new Map<string, number>();
  return new Marked({
    gfm: true,
    renderer: {
      heading({ tokens, depth }: Tokens.Heading): string {
        const inner = this.parser.parseInline(tokens);
        const base = slug(inner) || 'section';
        const n = seen.get(base) ?? 0;
        seen.set(base, n + 1);
        const id = n === 0 ? base : `${base}-${n}`;
        return `<h${depth} id="${id}"><a class="anchor" href="#${id}" aria-hidden="true" tabindex="-1">#</a>${inner}</h${depth}>\n`;
      },
      code({ text, lang }: Tokens.Code): string {
        const language = (lang ?? '').split(/\s+/)[0]!;
        const body = hljs.getLanguage(language)
          ? hljs.highlight(text, { language }).value
          : escapeHtml(text);
        const label = language ? `<span class="code-lang">${escapeHtml(language)}</span>` : '';
        // Focusable, so a keyboard can scroll a block wider than the page.
        const name = `${language ? `${escapeHtml(language)} ` : ''}code`;
        return `<figure class="code">${label}<pre tabindex="0" aria-label="${name}"><code class="hljs${language ? ` language-${escapeHtml(language)}` : ''}">${body}</code></pre></figure>\n`;
      },
    },
  });
}

const FALLBACKS: Record<string, string> = {
  'headstart-classifier':
    '<p class="widget-fallback">Interactive: classify your own photo with the edge (needs JavaScript).</p>',
  'headstart-trainer':
    '<p class="widget-fallback">Interactive: train a head on your own photos and watch it learn (needs JavaScript and an API key).</p>',
  'headstart-strategies':
    '<p class="widget-fallback">Interactive: the three strategies drawn on the backbone’s real blocks (needs JavaScript).</p>',
};

/** The quiz as plain HTML (questions and options, no answers), shown until the widget takes over. */
function quizFallback(quiz: PublicQuiz): string {
  const items = quiz.questions
    .map(
      (q) =>
        `<li><p>${escapeHtml(q.prompt)}</p><ul>${q.options.map((o) => `<li>${escapeHtml(o.text)}</li>`).join('')}</ul></li>`,
    )
    .join('');
  return `<div class="widget-fallback"><p>Knowledge check (answer it with JavaScript enabled; it is graded by the server):</p><ol>${items}</ol></div>`;
}

/**
 * Renders a lesson body. Widget elements get the lesson id (the quiz) and fallback content.
 *
 * @example
 * const html = renderLessonHtml(lesson.body, { lessonId: 'cv-transfer-learning', quiz: publicQuiz(lesson.quiz) });
 */
export function renderLessonHtml(
  body: string,
  opts: { readonly lessonId: string; readonly quiz: PublicQuiz | null },
): string {
  const html = markdown().parse(body, { async: false });
  return html.replace(
    /<(headstart-[a-z]+)([^>]*)><\/\1>/g,
    (_match, tag: string, attrs: string) => {
      if (tag === 'headstart-quiz') {
        const lesson = /\slesson=/.test(attrs) ? '' : ` lesson="${escapeHtml(opts.lessonId)}"`;
        return `<${tag}${attrs}${lesson}>${opts.quiz ? quizFallback(opts.quiz) : ''}</${tag}>`;
      }
      return `<${tag}${attrs}>${FALLBACKS[tag] ?? ''}</${tag}>`;
    },
  );
}
