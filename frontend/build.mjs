// Builds the dashboard into one self-contained HTML file inside the Python package:
// tradeloop/dashboard/assets/dashboard.html (scripts, styles and lightweight-charts inlined).
// The page records a digest of the sources it was built from (<meta name="tradeloop-sources">):
// tests/dashboard/test_built_page.py recomputes it, so a source edit without a rebuild fails CI
// (no Node or network needed there).
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";

/** sha256 over "path NUL sha256(content) LF" of every source, in this order. */
function sourcesDigest() {
  const here = new URL("./", import.meta.url);
  const paths = ["build.mjs", "package.json", "package-lock.json", ...readdirSync(new URL("src/", here)).sort().map((f) => `src/${f}`)];
  const digest = createHash("sha256");
  for (const path of paths) {
    const content = createHash("sha256").update(readFileSync(new URL(path, here))).digest("hex");
    digest.update(`${path}\0${content}\n`);
  }
  return digest.digest("hex");
}

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
  .replace("/*SOURCES*/", () => sourcesDigest())
  .replace("/*STYLE*/", () => style)
  .replace("/*SCRIPT*/", () => script);
writeFileSync(out, page);
console.log(`wrote ${out.pathname} (${page.length} bytes)`);
