// Hostile requests to the lessons API and quiz grading: lesson ids that are paths, answers that
// are not answers, prototype keys, oversized and deeply nested bodies.
import {
  bigJson,
  nestedObjects,
  request,
  type HostileCase,
  type RequestOptions,
} from './corpus.js';
import { LESSON } from './world.js';

/** The lesson's first question (its options are a, b, c). */
const Q1 = 'q1';

/** POST /v1/lessons/{id}/quiz (the real lesson unless `lesson` says otherwise). */
const grade =
  (opts: RequestOptions, lesson = LESSON) =>
  () =>
    request(`/v1/lessons/${lesson}/quiz`, { method: 'POST', ...opts });

const answers = (value: unknown) => grade({ json: { answers: value } });

export const LESSON_CASES: HostileCase[] = [
  {
    area: 'lessons',
    name: 'a lesson id that is a traversal path',
    request: () => request(`/v1/lessons/${encodeURIComponent('../../wrangler.toml')}`),
    code: 'invalid_request',
    field: 'path.id',
  },
  {
    area: 'lessons',
    name: 'grading a lesson id that is a traversal path',
    request: grade({ json: { answers: {} } }, encodeURIComponent(`../lessons/${LESSON}`)),
    code: 'invalid_request',
    field: 'path.id',
  },
  {
    area: 'lessons',
    name: 'grading a lesson that does not exist',
    request: grade({ json: { answers: {} } }, 'cv-nothing-here'),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'lessons',
    name: 'a form-encoded quiz',
    request: grade({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${Q1}=a`,
    }),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'lessons',
    name: 'a quiz body that is not JSON',
    request: grade({ rawJson: "{answers: {q1: 'a'}}" }),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'lessons',
    name: 'a quiz body nested 1000 levels deep',
    request: grade({ rawJson: `{"answers":${nestedObjects(1000)}}` }),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'lessons',
    name: 'an oversized quiz body',
    request: grade({ rawJson: bigJson(300 * 1024, { answers: {} }) }),
    code: 'body_too_large',
    field: 'body',
  },
  {
    area: 'lessons',
    name: 'answers as a string',
    request: answers('all of them'),
    code: 'invalid_request',
    field: 'body.answers',
  },
  {
    area: 'lessons',
    name: 'an answer that is a number',
    request: answers({ [Q1]: 1 }),
    code: 'invalid_request',
    field: `body.answers.${Q1}`,
  },
  {
    area: 'lessons',
    name: 'an unknown question',
    request: answers({ q999: 'a' }),
    code: 'invalid_request',
    field: 'body.answers.q999',
  },
  {
    area: 'lessons',
    name: 'an unknown option',
    request: answers({ [Q1]: 'zz' }),
    code: 'invalid_request',
    field: `body.answers.${Q1}`,
  },
  {
    area: 'lessons',
    name: 'a __proto__ answer',
    request: grade({ rawJson: '{"answers":{"__proto__":"a"}}' }),
    code: 'invalid_request',
    field: 'body.answers.__proto__',
  },
  {
    area: 'lessons',
    name: 'a constructor answer',
    request: answers({ constructor: 'a' }),
    code: 'invalid_request',
    field: 'body.answers.constructor',
  },
  {
    area: 'lessons',
    name: '101 answers',
    request: answers(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`q${i}`, 'a']))),
    code: 'invalid_request',
    field: 'body.answers',
  },
  {
    area: 'lessons',
    name: 'a 41-character option id',
    request: answers({ [Q1]: 'o'.repeat(41) }),
    code: 'invalid_request',
    field: `body.answers.${Q1}`,
  },
];
