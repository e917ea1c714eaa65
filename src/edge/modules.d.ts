// Ambient types for the edge: bindings from wrangler.toml and module imports wrangler understands.

declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}

declare module 'onnxruntime-web/ort-wasm-simd-threaded.wasm' {
  const module: WebAssembly.Module;
  export default module;
}

declare module '*.md' {
  const text: string;
  export default text;
}
