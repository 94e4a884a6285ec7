# Extra Hugging Face reference cases for the tokenizer crate's tests (crates/tokenizer/tests/data/hf_extra.jsonl).
import json, random, sys
from tokenizers import Tokenizer
tk = Tokenizer.from_file('/tmp/hf/model_download/tokenizer.json')
vocab = tk.get_vocab()
pieces = [p for p in vocab if not p.startswith('<unused')]
random.seed(20261121)
ranges = [(0x20,0x7e),(0xa0,0x24f),(0x370,0x3ff),(0x400,0x4ff),(0x530,0x58f),(0x590,0x5ff),(0x600,0x6ff),(0x700,0x74f),(0x900,0x97f),(0x980,0x9ff),(0xa00,0xa7f),(0xb80,0xbff),(0xc00,0xc7f),(0xd00,0xd7f),(0xe00,0xe7f),(0xe80,0xeff),(0xf00,0xfff),(0x10a0,0x10ff),(0x1100,0x11ff),(0x1200,0x137f),(0x1780,0x17ff),(0x3040,0x30ff),(0x4e00,0x9fff),(0xac00,0xd7a3),(0x1f300,0x1faff),(0x0,0x1f),(0x300,0x36f),(0xe000,0xe0ff),(0x10000,0x10ffff),(0x2000,0x206f),(0xfe00,0xfe0f),(0x1d400,0x1d7ff)]
specials = ['<eos>','<bos>','<pad>','<unk>','<mask>','<start_of_turn>','<end_of_turn>','<table>','</td>','<unused7>','[multimodal]','<0x41>','▁','▁▁','▁▁▁',' ','  ','   ','\n','\n\n','\t','\t\t','\r\n','<','>','<eos','eos>','> </','x> </y','>  </','> </td>','<start_of_image>']
def rchar():
    a,b = random.choice(ranges)
    while True:
        c = random.randint(a,b)
        if not (0xd800 <= c <= 0xdfff): return chr(c)
def gen():
    parts=[]
    for _ in range(random.randint(0, 25)):
        r = random.random()
        if r < 0.4: parts.append(random.choice(pieces).replace('▁', random.choice([' ',' ',' ','▁'])))
        elif r < 0.6: parts.append(''.join(rchar() for _ in range(random.randint(1,4))))
        elif r < 0.75: parts.append(random.choice(specials))
        elif r < 0.9: parts.append(' ' * random.choice([1,1,1,2,3,31,32,40]))
        else: parts.append(random.choice(pieces))
    return ''.join(parts)
texts = [gen() for _ in range(2500)]
texts += ['x> </y', 'a> </b', '> </', '>  </', '<b> </b>', 'x>▁</y', '▁> </', ' > </ ', 'x>\u3000</y', '>' * 5 + ' ' + '</' * 5]
texts = [t for t in texts if '<image_soft_token>' not in t]
for t, e in zip(texts, tk.encode_batch(texts, add_special_tokens=True)):
    print(json.dumps({'text': t, 'token_ids': e.ids}, ensure_ascii=False))
