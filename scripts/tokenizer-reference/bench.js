// Times Hugging Face's tokenizers (npm) encode on a text file: node bench.js DIR TEXT [IDS_OUT].
// Prints "seconds ids" for the best of 3 runs, like bench_encode.
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');
(async () => {
  const [dir, textPath, idsOut] = process.argv.slice(2);
  const text = fs.readFileSync(textPath, 'utf8');
  const tok = Tokenizer.fromFile(dir + '/tokenizer.json');
  let best = 1e9;
  let n = 0;
  for (let r = 0; r < 3; ++r) {
    const a = process.hrtime.bigint();
    const e = await tok.encode(text, null, { addSpecialTokens: false });
    const b = process.hrtime.bigint();
    n = e.getIds().length;
    best = Math.min(best, Number(b - a) / 1e9);
    if (r === 0 && idsOut) fs.writeFileSync(idsOut, e.getIds().join('\n') + '\n');
  }
  console.log(`${best.toFixed(3)} ${n}`);
})();
