using System.Reflection;
using System.Text;
using KeepAlive.AspNetCore.Tests.Infrastructure;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The library's public surface must match PublicAPI.txt, so every change of it (a new overload, a
/// renamed parameter, a nullability change) shows up in review as a change of that file.
/// </summary>
public class PublicApiTests
{
    private const string UpdateVariable = "UPDATE_PUBLIC_API";
    private const string UpdateCommand = $"{UpdateVariable}=1 dotnet test tests/KeepAlive.AspNetCore.Tests --filter \"FullyQualifiedName~PublicApiTests\"";

    private static readonly string[] Header =
    [
        "# The public API of KeepAlive.AspNetCore, one line per type and member, kept by PublicApiTests.",
        "# T: type (kind) : bases; M: method or constructor (parameters) -> return; P: property -> type { accessors };",
        "# F: field -> type; E: event -> type. Types are namespace-qualified; '?' marks nullable; (...) lists modifiers.",
        $"# After an intended change: {UpdateCommand}, then review and commit this file.",
    ];

    [Fact]
    public void Public_surface_matches_PublicAPI_txt()
    {
        var path = PublicApiFile();
        var actual = PublicSurface.Lines(typeof(KeepAliveOptions).Assembly);

        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            File.WriteAllLines(path, [.. Header, .. actual]);
            TestContext.Current.SendDiagnosticMessage($"Rewrote {path} with {actual.Count} lines.");
            return;
        }

        Assert.True(File.Exists(path), $"{path} is missing. Create it: {UpdateCommand}");
        var expected = File.ReadAllLines(path).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

        var removed = expected.Except(actual, StringComparer.Ordinal).ToList();
        var added = actual.Except(expected, StringComparer.Ordinal).ToList();
        if (removed.Count == 0 && added.Count == 0)
        {
            // Same lines; the order must be the sorted one too, so hand edits never drift into a noisy diff.
            Assert.True(actual.SequenceEqual(expected, StringComparer.Ordinal),
                $"{path} lists the right lines in the wrong order. Rewrite it: {UpdateCommand}");
            return;
        }

        var report = new StringBuilder()
            .AppendLine($"The public API differs from {path} ('-' is in the file but gone from the library, '+' is new in the library):");
        foreach (var line in removed)
            report.AppendLine($"- {line}");
        foreach (var line in added)
            report.AppendLine($"+ {line}");
        report.AppendLine()
            .AppendLine("If the change is intended, update the file and commit it with the change so reviewers see it:")
            .AppendLine($"  {UpdateCommand}")
            .AppendLine("A removed or changed line breaks callers: keep the old member (perhaps [Obsolete]) unless a breaking release is planned.");
        Assert.Fail(report.ToString());
    }

    private static string PublicApiFile() =>
        typeof(PublicApiTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "PublicApiFile").Value!;
}
