#!/usr/bin/env python3
"""sigrun.py — signal a running mtl for tests/adversarial.sh.

  sigrun.py LOG WAIT READY GO SIGS -- CMD...

Starts CMD (SIGINT, SIGTERM, SIGHUP at their defaults, whatever the caller
ignores) with stdout+stderr into LOG, waits until WAIT holds ("log:REGEX": a
line of LOG matches; "path:P": P exists; at most 120 s), creates READY (unless
'-'), waits until GO exists (unless '-'; at most 300 s), then sends SIGS
("TERM", or "INT,INT:0.05" = a second SIGINT 0.05 s after the first) and waits
at most 60 s for CMD to end (then SIGKILL).

Appends a last line to LOG:  "sigrun: exit N after S s" or "sigrun: killed by
signal N after S s" (S: seconds from the first signal), or "sigrun: hang".
Exit status: N when CMD exited; 200 + N when a signal killed it; 124 on a hang
or when WAIT never held.
"""
import os
import re
import signal
import subprocess
import sys
import time


def main():
    log, wait, ready, go, sigs = sys.argv[1:6]
    assert sys.argv[6] == '--'
    cmd = sys.argv[7:]

    def child_setup():
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(s, signal.SIG_DFL)

    f = open(log, 'wb')
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                         preexec_fn=child_setup)
    f.close()

    def note(s):
        with open(log, 'a') as g:
            g.write('\nsigrun: ' + s + '\n')

    t0 = time.time()
    kind, _, arg = wait.partition(':')
    rx = re.compile(arg, re.M) if kind == 'log' else None
    while True:
        if kind == 'log':
            try:
                if rx.search(open(log, errors='replace').read()):
                    break
            except OSError:
                pass
        elif os.path.exists(arg):
            break
        if p.poll() is not None:
            note('ended (status %s) before the wait condition %r held' % (p.returncode, wait))
            sys.exit(p.returncode if p.returncode >= 0 else 200 - p.returncode)
        if time.time() - t0 > 120:
            p.kill(); p.wait()
            note('hang: the wait condition %r never held' % wait)
            sys.exit(124)
        time.sleep(0.005)
    if ready != '-':
        open(ready, 'w').close()
    if go != '-':
        t1 = time.time()
        while not os.path.exists(go) and time.time() - t1 < 300:
            time.sleep(0.01)
    t_sig = None
    for spec in sigs.split(','):
        name, _, delay = spec.partition(':')
        if t_sig is not None and delay:
            time.sleep(float(delay))
        if p.poll() is None:
            p.send_signal(getattr(signal, 'SIG' + name))
        if t_sig is None:
            t_sig = time.time()
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
        note('hang: still running 60 s after the signal')
        sys.exit(124)
    el = time.time() - t_sig
    if rc < 0:
        note('killed by signal %d after %.2f s' % (-rc, el))
        sys.exit(200 - rc)
    note('exit %d after %.2f s' % (rc, el))
    sys.exit(rc)


if __name__ == '__main__':
    main()
