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

make_certs() { # dir: a CA (ca.pem) and a localhost server certificate (server.pem, server.key)
  (
    cd "$1"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mcmux-bench-ca \
      -keyout ca.key -out ca.pem \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr
    printf '%s\n' 'subjectAltName = DNS:localhost, IP:127.0.0.1' 'basicConstraints = CA:FALSE' \
      'keyUsage = critical, digitalSignature, keyEncipherment' 'extendedKeyUsage = serverAuth' >server.ext
    openssl x509 -req -days 2 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -extfile server.ext -out server.pem
  ) >"$1/openssl.log" 2>&1 || { cat "$1/openssl.log" >&2; return 1; }
}

kib_field() { # pid, field (VmRSS, VmHWM): value in KiB
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
