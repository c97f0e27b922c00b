<?php
// Writes keys.txt: the keys every golden-vector generator places, one lowercase hex string a line.
// Deterministic (seeded Mersenne Twister), so re-running it reproduces the committed file.
// Usage: php tools/golden/keys.php > tools/golden/keys.txt
mt_srand(20250611, MT_RAND_MT19937);

function rnd_ascii(int $len): string {
    $s = '';
    for ($i = 0; $i < $len; $i++) {
        $s .= chr(mt_rand(0x21, 0x7e)); // printable, no space: valid in the text protocol
    }
    return $s;
}

// Encodes one code point as UTF-8 (by hand: php-mbstring is not needed).
function utf8(int $cp): string {
    if ($cp < 0x80) {
        return chr($cp);
    }
    if ($cp < 0x800) {
        return chr(0xc0 | ($cp >> 6)) . chr(0x80 | ($cp & 0x3f));
    }
    if ($cp < 0x10000) {
        return chr(0xe0 | ($cp >> 12)) . chr(0x80 | (($cp >> 6) & 0x3f)) . chr(0x80 | ($cp & 0x3f));
    }
    return chr(0xf0 | ($cp >> 18)) . chr(0x80 | (($cp >> 12) & 0x3f))
        . chr(0x80 | (($cp >> 6) & 0x3f)) . chr(0x80 | ($cp & 0x3f));
}

// Code point ranges of 1, 2, 3 and 4 UTF-8 bytes, surrogates excluded.
$ranges = [[0x21, 0x7e], [0xa1, 0x24f], [0x391, 0x3c9], [0x410, 0x44f], [0x4e00, 0x9fff],
           [0xac00, 0xd7a3], [0xe000, 0xf8ff], [0x1f300, 0x1f64f], [0x10000, 0x10ffff]];

function rnd_utf8(int $maxBytes, array $ranges): string {
    $s = '';
    $n = mt_rand(1, 60);
    for ($i = 0; $i < $n; $i++) {
        $r = $ranges[mt_rand(0, count($ranges) - 1)];
        $c = utf8(mt_rand($r[0], $r[1]));
        if (strlen($s) + strlen($c) > $maxBytes) {
            break;
        }
        $s .= $c;
    }
    return $s === '' ? 'é' : $s;
}

$keys = [];
// Fixed, readable keys first: edge lengths and typical application keys.
foreach (['a', 'b', 'z', '0', 'key', 'foo', 'bar', 'user:1', 'session:abc', 'é', '日本語',
          "\u{1F600}", 'naïve', 'Ünïcödé-κλειδί', str_repeat('x', 250), str_repeat('é', 125),
          'ketama', '-', ':', 'localhost:11211-0', '10.0.1.11:11211-0'] as $k) {
    $keys[] = $k;
}
// Keys that land on the point two nodes share in the collision-* node sets (FindCollisions.java).
foreach ([315, 3636, 13792, 15469, 16032, 17744, 19627, 22996, 3544, 5579, 6881, 7918, 13073,
          13277, 18921, 24454, 320, 5516, 11010, 12061, 14723, 15759, 16013, 16254] as $n) {
    $keys[] = 'tie:' . $n;
}
for ($i = 0; count($keys) < 250; $i++) {
    $keys[] = 'user:' . $i;
}
for ($i = 0; count($keys) < 400; $i++) {
    $keys[] = sprintf('session:%08x%08x', mt_rand(), mt_rand());
}
while (count($keys) < 600) {
    $keys[] = rnd_ascii(mt_rand(1, mt_rand(0, 3) == 0 ? 250 : 40));
}
while (count($keys) < 800) {
    $keys[] = rnd_utf8(mt_rand(0, 3) == 0 ? 250 : 60, $ranges);
}
// Arbitrary bytes (meta commands' base64 keys decode to any bytes): mostly invalid UTF-8.
while (count($keys) < 1000) {
    $len = mt_rand(1, mt_rand(0, 3) == 0 ? 250 : 32);
    $s = '';
    for ($i = 0; $i < $len; $i++) {
        $s .= chr(mt_rand(0, 255));
    }
    $keys[] = $s;
}
foreach ($keys as $k) {
    if (strlen($k) < 1 || strlen($k) > 250) {
        fwrite(STDERR, "bad key length\n");
        exit(1);
    }
    echo bin2hex($k), "\n";
}
