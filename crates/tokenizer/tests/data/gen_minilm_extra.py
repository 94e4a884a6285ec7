# Extra Hugging Face reference cases for the WordPiece tests (crates/tokenizer/tests/data/minilm_extra.jsonl):
# random multi-script text, vocabulary pieces with and without `##`, punctuation, controls, accents,
# CJK, spelled special tokens, long words; `text`, `token_ids` (with [CLS]/[SEP], untruncated) and
# `decoded` / `decoded_all` (decode with skip_special_tokens=True / False), all from the `tokenizers`
# package (the BertTokenizerFast backend sentence-transformers uses) on all-MiniLM-L6-v2's tokenizer.json.
# usage: python3 gen_minilm_extra.py /path/to/all-MiniLM-L6-v2/tokenizer.json > minilm_extra.jsonl
import json, random, sys
from tokenizers import Tokenizer
tk = Tokenizer.from_file(sys.argv[1])
tk.no_padding()
tk.no_truncation()
pieces = [p for p in tk.get_vocab() if not p.startswith('[unused')]
random.seed(20261130)
ranges = [(0x20,0x7e),(0xa0,0x24f),(0x250,0x2ff),(0x300,0x36f),(0x370,0x3ff),(0x400,0x4ff),(0x530,0x58f),(0x590,0x5ff),
          (0x600,0x6ff),(0x900,0x97f),(0x980,0x9ff),(0xb80,0xbff),(0xe00,0xe7f),(0xf00,0xfff),(0x1100,0x11ff),
          (0x1780,0x17ff),(0x1e00,0x1eff),(0x2000,0x206f),(0x2070,0x22ff),(0x2e00,0x2e7f),(0x3000,0x303f),(0x3040,0x30ff),
          (0x3400,0x4dbf),(0x4e00,0x9fff),(0xac00,0xd7a3),(0xf900,0xfaff),(0xfb00,0xfb4f),(0xfe00,0xfe6f),(0xff00,0xffef),
          (0x1f300,0x1faff),(0x0,0x1f),(0x7f,0x9f),(0xe000,0xe0ff),(0x10000,0x10ffff),(0x1d400,0x1d7ff),(0x20000,0x2fa1f)]
specials = ['[CLS]','[SEP]','[PAD]','[UNK]','[MASK]','[cls]','[CLS','CLS]','[unused3]','##','#',' ','  ','\n','\t','\r\n',
            '\u00a0','\u3000','\u200b','\ufeff','\ufffd','\x00','\x0b','\x85','e\u0301','I\u0307','\u0130','ß','ﬁ','Ǆ','ΣΑΣ',
            "'s", "n't", ' .', '...', '--', '¿', '¡', '«', '»', '“', '”', '€', '$5', '1,000.50', 'ℌ', '①', '㍿']
def rchar():
    a, b = random.choice(ranges)
    while True:
        c = random.randint(a, b)
        if not (0xd800 <= c <= 0xdfff): return chr(c)
def gen():
    parts = []
    for _ in range(random.randint(0, 25)):
        r = random.random()
        if r < 0.35: parts.append(random.choice(pieces).lstrip('#') if random.random() < 0.5 else random.choice(pieces))
        elif r < 0.55: parts.append(''.join(rchar() for _ in range(random.randint(1, 4))))
        elif r < 0.7: parts.append(random.choice(specials))
        elif r < 0.85: parts.append(' ')
        elif r < 0.9: parts.append(random.choice(pieces).upper())
        elif r < 0.93: parts.append('x' * random.choice([99, 100, 101, 150]))
        else: parts.append(''.join(random.choice(pieces).lstrip('#') for _ in range(random.randint(2, 6))))
    return ''.join(parts)
texts = [gen() for _ in range(2500)]
for t, e in zip(texts, tk.encode_batch(texts, add_special_tokens=True)):
    print(json.dumps({'text': t, 'token_ids': e.ids, 'decoded': tk.decode(e.ids, skip_special_tokens=True),
                      'decoded_all': tk.decode(e.ids, skip_special_tokens=False)}, ensure_ascii=False))
