package dev.mcmux.upstream;

import dev.mcmux.config.InvalidSettingException;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.X509TrustedCertificateBlock;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8DecryptorProviderBuilder;
import org.bouncycastle.openssl.jcajce.JcePEMDecryptorProviderBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;
import org.bouncycastle.pkcs.PKCSException;

/** Reads PEM certificates and private keys, reporting every problem against its setting. */
final class PemFiles {

  private static final String KEY_PASSWORD = "mcmux.tls.key-password";

  private PemFiles() {}

  /** Every certificate in {@code file}, in file order; none is an error. */
  static List<X509Certificate> certificates(Path file, String setting) {
    var converter = new JcaX509CertificateConverter();
    List<X509Certificate> certs = new ArrayList<>();
    for (Object o : objects(file, setting)) {
      X509CertificateHolder holder = null;
      if (o instanceof X509CertificateHolder h) {
        holder = h;
      } else if (o instanceof X509TrustedCertificateBlock t) {
        holder = t.getCertificateHolder();
      }
      if (holder != null) {
        try {
          certs.add(converter.getCertificate(holder));
        } catch (CertificateException e) {
          throw new InvalidSettingException(
              setting, file + " holds a certificate Java cannot read: " + e.getMessage(), e);
        }
      }
    }
    if (certs.isEmpty()) {
      throw new InvalidSettingException(
          setting, file + " contains no PEM certificate (BEGIN CERTIFICATE)");
    }
    return certs;
  }

  /**
   * The first private key in {@code file}: PKCS#1 RSA, SEC1 EC, PKCS#8, encrypted PKCS#8, or a
   * legacy OpenSSL-encrypted key.
   */
  static PrivateKey privateKey(Path file, String setting, Optional<String> password) {
    var converter = new JcaPEMKeyConverter();
    for (Object o : objects(file, setting)) {
      try {
        if (o instanceof PEMKeyPair pair) {
          // The public half is optional in SEC1 EC keys (RFC 5915) and not needed here.
          return converter.getPrivateKey(pair.getPrivateKeyInfo());
        }
        if (o instanceof org.bouncycastle.asn1.pkcs.PrivateKeyInfo info) {
          return converter.getPrivateKey(info);
        }
        if (o instanceof PKCS8EncryptedPrivateKeyInfo encrypted) {
          char[] pw = requirePassword(file, password);
          try {
            var decryptor =
                new JceOpenSSLPKCS8DecryptorProviderBuilder().setProvider(Bc.PROVIDER).build(pw);
            return converter.getPrivateKey(encrypted.decryptPrivateKeyInfo(decryptor));
          } catch (PKCSException e) {
            throw wrongPassword(file, e);
          }
        }
        if (o instanceof PEMEncryptedKeyPair encrypted) {
          char[] pw = requirePassword(file, password);
          try {
            var decryptor = new JcePEMDecryptorProviderBuilder().setProvider(Bc.PROVIDER).build(pw);
            return converter.getPrivateKey(encrypted.decryptKeyPair(decryptor).getPrivateKeyInfo());
          } catch (IOException e) {
            throw wrongPassword(file, e);
          }
        }
      } catch (IOException | OperatorCreationException e) {
        throw new InvalidSettingException(
            setting, file + " holds a key Java cannot read: " + e.getMessage(), e);
      }
    }
    throw new InvalidSettingException(setting, file + " contains no PEM private key");
  }

  /**
   * Whether {@code key} belongs to {@code cert}, checked by signing with one and verifying with the
   * other, which works for every key type without comparing type-specific fields.
   */
  static boolean matches(PrivateKey key, X509Certificate cert) {
    String algorithm =
        switch (key.getAlgorithm()) {
          case "RSA" -> "SHA256withRSA";
          case "EC" -> "SHA256withECDSA";
          case "EdDSA", "Ed25519", "Ed448" -> "EdDSA";
          default -> null;
        };
    if (!key.getAlgorithm().equals(cert.getPublicKey().getAlgorithm())) {
      return false;
    }
    if (algorithm == null) {
      // A key type this check cannot sign with: let it through rather than refuse a good pair.
      return true;
    }
    try {
      byte[] probe = "mcmux key check".getBytes(StandardCharsets.US_ASCII);
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(key);
      signer.update(probe);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(cert.getPublicKey());
      verifier.update(probe);
      return verifier.verify(signature);
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  private static char[] requirePassword(Path file, Optional<String> password) {
    return password
        .orElseThrow(
            () ->
                new InvalidSettingException(
                    KEY_PASSWORD, "is empty but " + file + " is an encrypted key"))
        .toCharArray();
  }

  private static InvalidSettingException wrongPassword(Path file, Exception e) {
    return new InvalidSettingException(
        KEY_PASSWORD, "does not decrypt " + file + " (wrong password?)", e);
  }

  private static List<Object> objects(Path file, String setting) {
    List<Object> out = new ArrayList<>();
    // ISO-8859-1 maps every byte, so a DER file reads as "no PEM" instead of a charset error.
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.ISO_8859_1);
        PEMParser parser = new PEMParser(r)) {
      Object o;
      while ((o = parser.readObject()) != null) {
        out.add(o);
      }
    } catch (NoSuchFileException e) {
      throw new InvalidSettingException(setting, file + " does not exist", e);
    } catch (IOException | RuntimeException e) {
      // BouncyCastle reports bad base64 and truncated blocks as unchecked exceptions.
      throw new InvalidSettingException(setting, file + " is not valid PEM: " + e.getMessage(), e);
    }
    return out;
  }

  // Loaded only when an encrypted key needs it; never registered globally, so the rest of the
  // process keeps the JDK's providers.
  private static final class Bc {
    static final Provider PROVIDER = new BouncyCastleProvider();
  }
}
