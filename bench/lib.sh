# Helpers shared by compare.sh and soak.sh; sourced, not run.
# shellcheck shell=bash

# Free loopback ports outside the ephemeral range (connect-per-request uses that one heavily).
free_ports() { # count
  python3 - "$1" <<'EOF'
import random, socket, sys
want, ports, held = int(sys.argv[1]), [], []
while len(ports) < want:
    p = random.randrange(20000, 32000)
    if p in ports:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(p)
print(" ".join(map(str, ports)))
EOF
}

is_listening() { # port
  local hex
  hex=$(printf '%04X' "$1")
  awk -v h=":$hex" 'substr($2, length($2) - 4) == h && $4 == "0A" { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6
}
