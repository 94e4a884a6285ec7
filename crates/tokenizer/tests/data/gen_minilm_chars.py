# Per-char Hugging Face reference for the WordPiece tests (crates/tokenizer/tests/data/minilm_chars.jsonl):
# for chosen code points c, the text "x{c}y {c} É{c}a{c}<U+0301>" (inside a word, alone, after an accented
# capital, before a combining accent) and its ids from the `tokenizers` package on all-MiniLM-L6-v2's
# tokenizer.json. Chosen: every Cc, Cf, Co-boundary, Zs and P* char (Unicode 14 as Python knows it: the ones
# made punctuation after Unicode 8 must stay inside words, as in Hugging Face's tables), U+2E00..U+2E7F, every
# 5th Mn char, and every 997th other code point.
# usage: python3 gen_minilm_chars.py /path/to/all-MiniLM-L6-v2/tokenizer.json > minilm_chars.jsonl
import json, sys, unicodedata
from tokenizers import Tokenizer
tk = Tokenizer.from_file(sys.argv[1])
tk.no_padding()
tk.no_truncation()
cps = []
n_mn = 0
for cp in range(0x80, 0x110000):
    if 0xd800 <= cp <= 0xdfff:
        continue
    cat = unicodedata.category(chr(cp))
    if cat[0] == 'P' or cat in ('Cc', 'Cf', 'Zs') or 0x2e00 <= cp <= 0x2e7f or cp in (0xe000, 0xf8ff, 0xf0000, 0x10fffd, 0xfffd):
        cps.append(cp)
    elif cat == 'Mn':
        n_mn += 1
        if n_mn % 5 == 0:
            cps.append(cp)
    elif cp % 997 == 0:
        cps.append(cp)
texts = [f"x{chr(cp)}y {chr(cp)} É{chr(cp)}a{chr(cp)}\u0301" for cp in cps]
for t, e in zip(texts, tk.encode_batch(texts, add_special_tokens=True)):
    print(json.dumps({'text': t, 'token_ids': e.ids}, ensure_ascii=False))
