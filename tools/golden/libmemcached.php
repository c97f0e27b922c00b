<?php
// Golden vectors for the "libmemcached" placement: Debian's PHP Memcached extension (which links
// libmemcached) with OPT_LIBKETAMA_COMPATIBLE, asked getServerByKey() for every key on every
// node set. getServerByKey() only hashes: it opens no connection and resolves no name.
// Usage (from the repository root):
//   php tools/golden/libmemcached.php tools/golden/node-sets.txt tools/golden/keys.txt \
//     > proxy/src/test/resources/golden/libmemcached.txt
if ($argc !== 3) {
    fwrite(STDERR, "usage: php libmemcached.php NODE_SETS KEYS\n");
    exit(2);
}

function read_sets(string $file): array {
    $sets = [];
    $name = null;
    foreach (file($file, FILE_IGNORE_NEW_LINES) as $line) {
        $f = preg_split('/\s+/', trim($line));
        if ($f[0] === 'set') {
            $name = $f[1];
            $sets[$name] = [];
        } elseif ($f[0] === 'node') {
            $sets[$name][] = [$f[1], (int) $f[2], $f[3]];
        }
    }
    return $sets;
}

$sets = read_sets($argv[1]);
$keys = array_map('hex2bin', file($argv[2], FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES));

$ext = new ReflectionExtension('memcached');
ob_start();
$ext->info();
preg_match('/libmemcached library version => (\S+)/', ob_get_clean(), $lib);
echo "# flavour libmemcached\n";
echo "# generator tools/golden/libmemcached.php: PHP ", PHP_VERSION, ", php-memcached ",
    $ext->getVersion(), ", libmemcached ", $lib[1] ?? 'unknown', "\n";
echo "# options: OPT_LIBKETAMA_COMPATIBLE=true, addServers([[host, port]]), getServerByKey(key)\n";
echo "# format: set NAME / node HOST PORT IP (in client order) / key HEX NODE_INDEX / end\n";

foreach ($sets as $name => $nodes) {
    $m = new Memcached();
    if (!$m->setOption(Memcached::OPT_LIBKETAMA_COMPATIBLE, true)) {
        fwrite(STDERR, "cannot set OPT_LIBKETAMA_COMPATIBLE\n");
        exit(1);
    }
    $servers = [];
    $index = [];
    foreach ($nodes as $i => [$host, $port, $ip]) {
        $servers[] = [$host, $port];
        $id = $host . ' ' . $port;
        if (isset($index[$id])) {
            fwrite(STDERR, "set $name: duplicate node $id\n");
            exit(1);
        }
        $index[$id] = $i;
    }
    if (!$m->addServers($servers) || count($m->getServerList()) !== count($nodes)) {
        // libmemcached refuses some host spellings (checked: none so far); say so in the file.
        echo "\n# set $name skipped: addServers failed: ", $m->getResultMessage(), "\n";
        continue;
    }
    echo "\nset $name\n";
    foreach ($nodes as [$host, $port, $ip]) {
        echo "node $host $port $ip\n";
    }
    foreach ($keys as $key) {
        $s = $m->getServerByKey($key);
        if ($s === false) {
            fwrite(STDERR, "set $name: getServerByKey failed: " . $m->getResultMessage() . "\n");
            exit(1);
        }
        $id = $s['host'] . ' ' . $s['port'];
        if (!isset($index[$id])) {
            fwrite(STDERR, "set $name: unknown server $id\n");
            exit(1);
        }
        echo 'key ', bin2hex($key), ' ', $index[$id], "\n";
    }
    echo "end\n";
}
