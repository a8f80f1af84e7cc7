/** Stylesheets are bundled by esbuild (main.css next to main.js). */
declare module '*.css';
