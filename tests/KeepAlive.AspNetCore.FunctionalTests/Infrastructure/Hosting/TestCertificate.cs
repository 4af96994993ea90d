using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Hosting;

/// <summary>A self-signed server certificate for 127.0.0.1, ::1 and localhost, made per test (no store, no dev cert).</summary>
internal static class TestCertificate
{
    public static X509Certificate2 Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server auth
        var now = DateTimeOffset.UtcNow;
        using var ephemeral = request.CreateSelfSigned(now.AddMinutes(-5), now.AddHours(1));
        // Round-trip through PKCS#12: SslStream on Windows cannot use an ephemeral key; harmless elsewhere.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>Writes <paramref name="certificate"/> with its key to a PKCS#12 file, as Kestrel:Certificates config expects.</summary>
    public static void WritePkcs12(X509Certificate2 certificate, string path, string password) =>
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
}
