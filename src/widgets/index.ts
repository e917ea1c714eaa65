// The widget bundle's entry (served by the edge as /widgets.js): defines the five elements,
// starts the embed bridge on embed pages and the embed host everywhere. Table of contents only.
//
//   <script type="module" src="https://headstart.example/widgets.js"></script>
//   <headstart-quiz lesson="cv-transfer-learning"></headstart-quiz>
import { HeadstartClassifier } from './classifier.js';
import { HeadstartConsole } from './console/console.js';
import { installEmbedBridge } from './embed-bridge.js';
import { installEmbedHost } from './embed-host.js';
import { HeadstartQuiz } from './quiz.js';
import { HeadstartStrategies } from './strategies.js';
import { HeadstartTrainer } from './trainer.js';

export {
  HeadstartClassifier,
  HeadstartConsole,
  HeadstartQuiz,
  HeadstartStrategies,
  HeadstartTrainer,
};
export { installEmbedBridge, installEmbedHost };
export { SCRIPT_ORIGIN, apiBase } from './client.js';

/** Tag name → element class, as defined by this bundle. */
export const ELEMENTS = {
  'headstart-quiz': HeadstartQuiz,
  'headstart-classifier': HeadstartClassifier,
  'headstart-trainer': HeadstartTrainer,
  'headstart-strategies': HeadstartStrategies,
  'headstart-console': HeadstartConsole,
} as const;

/**
 * Defines every Headstart element that is not defined yet (loading the bundle twice is harmless).
 *
 * @example
 * defineElements(); // index.ts does this on load
 */
export function defineElements(registry: CustomElementRegistry = customElements): void {
  for (const [name, element] of Object.entries(ELEMENTS)) {
    if (!registry.get(name)) registry.define(name, element);
  }
}

defineElements();
installEmbedBridge();
installEmbedHost();
