# Hugging Face decode references for random id sequences (crates/tokenizer/tests/data/hf_decode.jsonl).
# Ids HF skips beyond BOS/EOS/PAD/UNK (<mask>, <start_of_turn>, <end_of_turn>, <start/end_of_image>)
# are left out: GGUF metadata cannot tell them from other control tokens that HF keeps.
import json, random
from transformers import AutoTokenizer
tk = AutoTokenizer.from_pretrained('/tmp/hf/model_download')
random.seed(11)
V = 262144
vocab = tk.get_vocab()
bytes_ = [vocab['<0x%02X>' % b] for b in range(256)]
utf8_runs = [list(c.encode()) for c in 'é漢🙂ä€']
excluded = {4, 105, 106, 255999, 256000}
for i in range(2000):
    ids = []
    for _ in range(random.randint(0, 24)):
        r = random.random()
        if r < 0.2: ids.append(random.choice(bytes_))
        elif r < 0.3: ids.extend(bytes_[b] for b in random.choice(utf8_runs))
        elif r < 0.4: ids.append(random.randint(0, 300))
        elif r < 0.45: ids.append(random.choice([0, 1, 2, 3]))
        else: ids.append(random.randint(0, V - 1))
    ids = [x for x in ids if x not in excluded]
    print(json.dumps({'token_ids': ids,
                      'decoded': tk.decode(ids, skip_special_tokens=True),
                      'decoded_all': tk.decode(ids, skip_special_tokens=False)}, ensure_ascii=False))
