<?php
// Roundcube's ManageSieve client library (PEAR Net_Sieve, Debian php-net-sieve) against a
// server: STARTTLS with the given CA file, PLAIN login, then upload, list, download, check
// the space, activate, deactivate, delete. Prints one JSON object of what it saw; any
// PEAR error is printed with the step that failed and exits 1.
// Usage: php net-sieve.php PORT USER PASSWORD CAFILE
error_reporting(E_ALL & ~E_DEPRECATED & ~E_STRICT);
require_once 'Net/Sieve.php';

[$_, $port, $user, $password, $cafile] = $argv;
$out = [];
function check($step, $result) {
    if (is_a($result, 'PEAR_Error')) {
        fwrite(STDERR, "$step: " . $result->getMessage() . "\n");
        echo json_encode(['failed' => $step, 'error' => $result->getMessage()]), "\n";
        exit(1);
    }
    return $result;
}
$sieve = new Net_Sieve();
$options = ['ssl' => ['cafile' => $cafile, 'peer_name' => 'localhost', 'verify_peer' => true]];
check('connect', $sieve->connect('127.0.0.1', (int)$port, $options, true));
check('login', $sieve->login($user, $password, 'PLAIN'));
$out['extensions'] = check('extensions', $sieve->getExtensions());
$script = "require [\"fileinto\"];\r\nif header :contains \"subject\" \"roundcube\" {\r\n  fileinto \"Roundcube\";\r\n}\r\n";
$out['hasSpace'] = check('hasSpace', $sieve->haveSpace('roundcube', strlen($script)));
check('installScript', $sieve->installScript('roundcube', $script, true));
$out['listed'] = check('listScripts', $sieve->listScripts());
$out['active'] = check('getActive', $sieve->getActive());
$out['downloaded'] = check('getScript', $sieve->getScript('roundcube'));
// Net_Sieve keeps the CRLF that ends the literal's line (Roundcube trims it): compare without.
$out['same'] = substr($out['downloaded'], 0, -2) === $script;
$bad = $sieve->installScript('broken', "require [\"nonsense\"];\r\nkeep;\r\n");
$out['refused'] = is_a($bad, 'PEAR_Error') ? $bad->getMessage() : null;
$busy = $sieve->removeScript('roundcube');
$out['removeActive'] = is_a($busy, 'PEAR_Error') ? $busy->getMessage() : null;
check('setActive', $sieve->setActive(''));
check('removeScript', $sieve->removeScript('roundcube'));
$out['after'] = check('listScripts', $sieve->listScripts());
$sieve->disconnect();
echo json_encode($out), "\n";
