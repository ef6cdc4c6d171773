// Builds the dashboard into one self-contained HTML file inside the Python package:
// tradeloop/dashboard/assets/dashboard.html (scripts, styles and lightweight-charts inlined).
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";

const out = new URL("../tradeloop/dashboard/assets/dashboard.html", import.meta.url);
const bundle = await build({
  entryPoints: [new URL("./src/main.js", import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2022"],
  legalComments: "eof",
  write: false,
});
const script = bundle.outputFiles[0].text.replaceAll("</script", "<\\/script");
const style = readFileSync(new URL("./src/style.css", import.meta.url), "utf8");
const page = readFileSync(new URL("./src/index.html", import.meta.url), "utf8")
  .replace("/*STYLE*/", () => style)
  .replace("/*SCRIPT*/", () => script);
writeFileSync(out, page);
console.log(`wrote ${out.pathname} (${page.length} bytes)`);
