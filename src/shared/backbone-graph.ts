// Where a backbone can be cut: the tensor entering each block, and the nodes that turn a cut
// tensor into the embedding (the "tail" a fine-tuned head carries). Shared by the converter,
// which records each block's input in the manifest, and the worker, which trains tails.

/** The parts of an ONNX node the analysis needs. */
export interface GraphNodeRef {
  readonly name: string;
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

/** A tensor cannot be a cut: some path to the output bypasses it. */
export class InvalidCutError extends Error {
  override name = 'InvalidCutError';
}

/**
 * The nodes (in graph order) computing `output` from `cut`, given the names of constant tensors
 * (initializers). Throws InvalidCutError when the output also depends on `modelInput` by a path
 * that avoids `cut` (a residual connection across the cut), or when `cut` is not used at all.
 *
 * @example
 * const tail = tailNodes(nodes, 'block_15_add', 'embedding', constants, 'pixel_values');
 */
export function tailNodes<N extends GraphNodeRef>(
  nodes: readonly N[],
  cut: string,
  output: string,
  constants: ReadonlySet<string>,
  modelInput: string,
): N[] {
  const needed = new Set([output]);
  const kept: N[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (!node.outputs.some((o) => needed.has(o))) continue;
    kept.push(node);
    for (const input of node.inputs) {
      if (input === '' || constants.has(input) || input === cut) continue;
      if (input === modelInput)
        throw new InvalidCutError(`"${cut}" is not a cut: ${node.name} reads the model input`);
      needed.add(input);
    }
  }
  kept.reverse();
  if (cut !== output && !kept.some((n) => n.inputs.includes(cut)))
    throw new InvalidCutError(`"${cut}" does not lead to "${output}"`);
  const produced = new Set([cut, ...constants, ...kept.flatMap((n) => n.outputs)]);
  for (const node of kept) {
    const missing = node.inputs.find((i) => i !== '' && !produced.has(i));
    if (missing !== undefined)
      throw new InvalidCutError(`"${cut}" is not a cut: ${node.name} needs "${missing}"`);
  }
  return kept;
}

const belongsTo = (node: string, layer: string) =>
  node === layer || node.startsWith(`${layer}_`) || node.startsWith(`${layer}/`);

/**
 * The tensor entering each block (the first input of the block's first node), for blocks where
 * that tensor is a valid cut; other blocks are left out.
 *
 * @example
 * blockInputs(nodes, manifest.blocks, constants, 'pixel_values', 'embedding');
 * // Map { 'stem' => 'pixel_values', 'block_0' => 'Conv1_relu', …, 'top_conv' => 'block_16_project_BN' }
 */
export function blockInputs(
  nodes: readonly GraphNodeRef[],
  blocks: readonly { readonly name: string; readonly layers: readonly string[] }[],
  constants: ReadonlySet<string>,
  modelInput: string,
  output: string,
): Map<string, string> {
  const inputs = new Map<string, string>();
  for (const block of blocks) {
    // A node is in the block by its name or by the weights it reads (`Conv1/kernel`).
    const first = nodes.find((n) =>
      block.layers.some(
        (layer) => belongsTo(n.name, layer) || n.inputs.some((i) => i.startsWith(`${layer}/`)),
      ),
    );
    const input = first?.inputs.find((i) => i !== '' && !constants.has(i));
    if (input === undefined) continue;
    try {
      tailNodes(nodes, input, output, constants, modelInput);
      inputs.set(block.name, input);
    } catch (err) {
      if (!(err instanceof InvalidCutError)) throw err;
    }
  }
  return inputs;
}
