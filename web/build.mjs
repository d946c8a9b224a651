// Builds the builder's front end into one directory: index.html, app.js (React,
// React Flow, dagre and our code, bundled and minified), app.css, and the
// licences of the bundled packages (app.js.LEGAL.txt). Usage: node build.mjs OUTDIR
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const out = process.argv[2] || 'dist';
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: ['src/main.jsx'],
  bundle: true,
  minify: true,
  outfile: `${out}/app.js`,
  jsx: 'automatic',
  loader: { '.js': 'jsx' },
  define: { 'process.env.NODE_ENV': '"production"' },
  target: ['chrome110', 'firefox110', 'safari16'],
  legalComments: 'external',
  logLevel: 'warning',
});
copyFileSync('src/index.html', `${out}/index.html`);
