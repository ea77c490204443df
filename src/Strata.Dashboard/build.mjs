// Bundles the dashboard into one script, one stylesheet and the page: node build.mjs [--outdir DIR].
// stratad embeds what this writes (Strata.Daemon.csproj runs it when a source is newer than the bundle).
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";

const i = process.argv.indexOf("--outdir");
const outdir = i > 0 ? process.argv[i + 1] : "dist";
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: { app: "src/main.ts" },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "iife",
  target: ["chrome110", "firefox110", "safari16"],
  outdir,
  logLevel: "warning",
  legalComments: "none",
});
await copyFile("src/index.html", join(outdir, "index.html"));
