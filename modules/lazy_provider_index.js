// Preloaded into the jsii kernel's Node process (NODE_OPTIONS=--require) by modules/provider_loader.py.
// The @cdktf/provider-aws package index eagerly requires ~2,100 resource modules (2-3 s); this makes
// each `exports.<name> = require("./<dir>")` a getter that requires the module on first use. Any other
// file, or an index whose shape is not the expected one, loads exactly as Node would load it.
"use strict";
const fs = require("fs");
const Module = require("module");

const INDEX = /[\\/]@cdktf[\\/]provider-aws[\\/](?:.*[\\/])?lib[\\/]index\.js$/;
const EXPORT_LINE = /^exports\.([A-Za-z0-9_$]+) = require\("(\.\/[A-Za-z0-9_-]+)"\);$/gm;
const MIN_EXPORTS = 100;
const compileJs = Module._extensions[".js"];

Module._extensions[".js"] = function lazyProviderIndex(module, filename) {
  if (!INDEX.test(filename)) return compileJs(module, filename);
  const source = fs.readFileSync(filename, "utf8");
  const exported = [...source.matchAll(EXPORT_LINE)];
  if (exported.length < MIN_EXPORTS) return compileJs(module, filename);
  Object.defineProperty(module.exports, "__esModule", { value: true });
  for (const [, name, relative] of exported) {
    Object.defineProperty(module.exports, name, {
      enumerable: true,
      configurable: true,
      get() {
        const value = module.require(relative);
        Object.defineProperty(module.exports, name, { value, enumerable: true });
        return value;
      },
    });
  }
};
