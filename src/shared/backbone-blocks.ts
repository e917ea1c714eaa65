// Groups a backbone's weights into the blocks a person would name — the stem, each
// (inverted-)residual or depthwise-separable block, the final 1×1 convolution, the classifier —
// with parameter counts, for the manifest. The strategies lesson and its widget draw these, and
// partial fine-tuning names them as the place training starts.
import type { BackboneBlock } from './manifest.js';

interface NamedShape {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Keras layer names of MobileNet v1/v2 → block names. Unknown layers keep their own name. */
function blockOf(layer: string): { name: string; role: BackboneBlock['role'] } {
  if (/^(Conv1|bn_Conv1|conv1|conv1_bn)$/.test(layer)) return { name: 'stem', role: 'trunk' };
  if (layer.startsWith('expanded_conv')) return { name: 'block_0', role: 'trunk' };
  const v2 = /^block_(\d+)_/.exec(layer);
  if (v2) return { name: `block_${v2[1]}`, role: 'trunk' };
  const v1 = /^conv_(?:dw|pw)_(\d+)/.exec(layer);
  if (v1) return { name: `block_${v1[1]}`, role: 'trunk' };
  if (/^Conv_1(_bn)?$/.test(layer)) return { name: 'top_conv', role: 'trunk' };
  if (/preds|logits|predictions/i.test(layer)) return { name: 'classifier', role: 'classifier' };
  return { name: layer, role: 'trunk' };
}

const rank = (name: string) =>
  name === 'stem'
    ? -1
    : name.startsWith('block_')
      ? Number(name.slice(6))
      : name === 'classifier'
        ? 1e6 + 1
        : 1e6;

/**
 * Blocks in network order with their layers and parameter counts; BatchNorm moving statistics
 * count as parameters but not as trainable ones.
 *
 * @example
 * const blocks = backboneBlocks(model.weights); // [{ name: 'stem', layers: ['Conv1', 'bn_Conv1'], … }, …]
 */
export function backboneBlocks(weights: readonly NamedShape[]): BackboneBlock[] {
  const blocks = new Map<string, BackboneBlock & { layers: string[] }>();
  for (const w of weights) {
    const layer = w.name.split('/')[0]!;
    const { name, role } = blockOf(layer);
    const size = w.shape.reduce((a, b) => a * b, 1);
    const block = blocks.get(name) ?? {
      name,
      role,
      layers: [],
      parameters: 0,
      trainableParameters: 0,
    };
    if (!block.layers.includes(layer)) block.layers.push(layer);
    block.parameters += size;
    if (!/moving_(mean|variance)$/.test(w.name)) block.trainableParameters += size;
    blocks.set(name, block);
  }
  return [...blocks.values()].sort((a, b) => rank(a.name) - rank(b.name));
}
