// Typeset a batch of TeX with KaTeX, once per book build.
// stdin: a JSON array of {"tex": "...", "display": true|false}
// stdout: a JSON array, one entry per input: {"html": "..."} or {"error": "KaTeX's message"}
"use strict";
const katex = require("katex");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map(({ tex, display }) => {
    try {
      const html = katex.renderToString(tex, {
        displayMode: Boolean(display),
        output: "htmlAndMathml", // MathML for screen readers, HTML for the eye
        throwOnError: true, // an error fails the build; no red error box is ever written
        strict: "ignore",
        trust: false,
      });
      return { html };
    } catch (e) {
      return { error: String(e.message || e) };
    }
  });
  process.stdout.write(JSON.stringify({ version: katex.version, results: out }));
});
