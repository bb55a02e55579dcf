// esbuild bundles CSS imported from TypeScript into the .css asset.
declare module '*.css';
