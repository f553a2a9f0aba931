#!/usr/bin/env python3
"""forge.py — builds hostile inputs for tests/adversarial.sh (stdlib only).

  forge.py ckpt FILE EXPR [fix|nofix]   edit an mtl checkpoint in place; EXPR sees
                                        b (bytearray), d (parsed layout), t (tensor
                                        table), struct; 'fix' recomputes the SHA-256
                                        trailer so that only the edited field is wrong
  forge.py st FILE EXPR                 edit a safetensors file in place; EXPR sees
                                        h (header dict), data (bytes), W (a tensor name),
                                        save(h, data, raw=None, hlen=None), json, struct
  forge.py json FILE EXPR               load JSON into d, run EXPR, write it back
  forge.py flip FILE SEED N [ckpt]      flip N random bits (seeded) in the header part
                                        (safetensors: length + JSON; checkpoint: before
                                        the payload, trailer fixed; else: whole file)
  forge.py hf64 SRC DST                 copy a tiny HF BERT dir, widening its position
                                        table to 64 (so windows of 32 tokens fit)
  forge.py ckinfo FILE                  print the parsed checkpoint layout

The checkpoint layout is the one documented in impl/model/checkpoint.h.
"""
import hashlib
import json
import os
import random
import shutil
import struct
import sys


def ck_parse(b):
    o = 8
    d = {}
    d['ver'] = struct.unpack_from('<I', b, o)[0]; o += 4
    d['preset'] = bytes(b[o:o + 32]).split(b'\0')[0]; o += 32
    d['cfg_off'] = o  # i32 L C NH FFN V maxT type_vocab num_labels heads; f32 ln_eps p_drop init_std
    d['ints'] = struct.unpack_from('<9i', b, o); o += 36
    d['floats'] = struct.unpack_from('<3f', b, o); o += 12
    d['state_off'] = o  # u64 seed; i64 step; i32 adam_t
    d['seed'], d['step'], d['adam_t'] = struct.unpack_from('<Qqi', b, o); o += 20
    d['nord_off'] = o
    nord = struct.unpack_from('<i', b, o)[0]; o += 4
    o += 12 * max(nord, 0)
    if d['ver'] == 2:
        d['naux_off'] = o
        na = struct.unpack_from('<I', b, o)[0]; o += 4 + 8 * na
    d['optlen_off'] = o
    k = struct.unpack_from('<I', b, o)[0]; o += 4
    d['opts'] = bytes(b[o:o + k]).decode('utf-8', 'replace'); o += k
    d['nt_off'] = o
    nt = struct.unpack_from('<I', b, o)[0]; o += 4
    tabs = []
    for _ in range(nt):
        e = {'off': o}
        nl = struct.unpack_from('<I', b, o)[0]; o += 4
        e['name'] = bytes(b[o:o + nl]).decode('utf-8', 'replace'); o += nl
        e['ndim_off'] = o
        nd = struct.unpack_from('<I', b, o)[0]; o += 4
        e['shape_off'] = o
        e['shape'] = struct.unpack_from('<%dI' % nd, b, o); o += 4 * nd
        e['offnum_off'] = o
        e['offset'], e['numel'] = struct.unpack_from('<QQ', b, o); o += 16
        tabs.append(e)
    d['tensors'] = tabs
    d['nparams_off'] = o
    d['nparams'] = struct.unpack_from('<Q', b, o)[0]; o += 8
    d['payload_off'] = o
    return d


def ck_fix(b):
    body = bytes(b[:-32])
    return bytearray(body + hashlib.sha256(body).digest())


def st_load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def st_writer(p):
    def save(h, data, raw=None, hlen=None):
        hb = raw if raw is not None else json.dumps(h).encode()
        if isinstance(hb, str):
            hb = hb.encode()
        n = len(hb) if hlen is None else hlen
        with open(p, 'wb') as f:
            f.write(struct.pack('<Q', n) + hb + data)
    return save


def main():
    cmd = sys.argv[1]
    if cmd == 'ckpt':
        p, expr = sys.argv[2], sys.argv[3]
        fix = len(sys.argv) < 5 or sys.argv[4] == 'fix'
        b = bytearray(open(p, 'rb').read())
        d = ck_parse(b)
        env = {'b': b, 'd': d, 't': d['tensors'], 'struct': struct}
        exec(expr, env)
        b = env['b']
        if fix:
            b = ck_fix(b)
        open(p, 'wb').write(b)
    elif cmd == 'st':
        p, expr = sys.argv[2], sys.argv[3]
        h, data = st_load(p)
        env = {'h': h, 'data': data, 'save': st_writer(p), 'json': json, 'struct': struct,
               'W': 'bert.encoder.layer.0.attention.self.query.weight'}
        exec(expr, env)
    elif cmd == 'json':
        p, expr = sys.argv[2], sys.argv[3]
        d = json.load(open(p, encoding='utf-8'))
        env = {'d': d, 'json': json}
        exec(expr, env)
        json.dump(env['d'], open(p, 'w', encoding='utf-8'), ensure_ascii=False, indent=1)
    elif cmd == 'flip':
        p, seed, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        kind = sys.argv[5] if len(sys.argv) > 5 else 'raw'
        b = bytearray(open(p, 'rb').read())
        r = random.Random(seed)
        if kind == 'st':
            lo, hi = 0, 8 + struct.unpack('<Q', b[:8])[0]
        elif kind == 'ckpt':
            lo, hi = 8, ck_parse(b)['payload_off']
        else:
            lo, hi = 0, len(b)
        for _ in range(n):
            i = r.randrange(lo, hi)
            b[i] ^= 1 << r.randrange(8)
        if kind == 'ckpt':
            b = ck_fix(b)
        open(p, 'wb').write(b)
    elif cmd == 'hf64':
        src, dst = sys.argv[2], sys.argv[3]
        shutil.copytree(src, dst)
        h, data = st_load(os.path.join(dst, 'model.safetensors'))
        meta = h.pop('__metadata__', None)
        r = random.Random(0)
        out = b''
        nh = {'__metadata__': meta} if meta else {}
        for k in sorted(h, key=lambda k: h[k]['data_offsets'][0]):
            a, e = h[k]['data_offsets']
            t = data[a:e]
            sh = h[k]['shape']
            if k.endswith('position_embeddings.weight'):
                t += b''.join(struct.pack('<f', r.gauss(0, 0.02)) for _ in range((64 - sh[0]) * sh[1]))
                sh = [64, sh[1]]
            nh[k] = {'dtype': 'F32', 'shape': sh, 'data_offsets': [len(out), len(out) + len(t)]}
            out += t
        hb = json.dumps(nh).encode()
        hb += b' ' * ((8 - len(hb) % 8) % 8)
        open(os.path.join(dst, 'model.safetensors'), 'wb').write(struct.pack('<Q', len(hb)) + hb + out)
        c = json.load(open(os.path.join(dst, 'config.json')))
        c['max_position_embeddings'] = 64
        json.dump(c, open(os.path.join(dst, 'config.json'), 'w'), indent=1)
        tc = os.path.join(dst, 'tokenizer_config.json')
        if os.path.exists(tc):
            t = json.load(open(tc))
            t['model_max_length'] = 64
            json.dump(t, open(tc, 'w'))
    elif cmd == 'ckinfo':
        d = ck_parse(bytearray(open(sys.argv[2], 'rb').read()))
        t = d.pop('tensors')
        print(d)
        print(t[0], t[-1], sep='\n')
    else:
        sys.exit('forge.py: unknown command ' + cmd)


if __name__ == '__main__':
    main()
