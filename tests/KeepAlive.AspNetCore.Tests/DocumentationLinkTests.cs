using System.Text.RegularExpressions;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The repository's Markdown as a reader follows it: every relative link reaches a file, every <c>#anchor</c> a heading
/// of it, and the README stays short enough to read.
/// </summary>
public partial class DocumentationLinkTests
{
    private static readonly string Root = FindRoot();

    [Fact]
    public void Every_relative_link_resolves_to_a_file_and_its_anchor_to_a_heading()
    {
        var broken = new List<string>();
        foreach (var page in Pages())
        {
            var text = WithoutCode(File.ReadAllText(page));
            foreach (Match link in LinkPattern().Matches(text))
            {
                var target = link.Groups["target"].Value;
                if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                    continue;
                var (path, anchor) = target.IndexOf('#') is var hash and >= 0 ? (target[..hash], target[(hash + 1)..]) : (target, null);
                var file = path.Length == 0 ? page : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, Uri.UnescapeDataString(path)));
                if (!File.Exists(file) && !Directory.Exists(file))
                    broken.Add($"{Relative(page)}: {target} (no such file)");
                else if (anchor is not null && file.EndsWith(".md", StringComparison.Ordinal) && !Anchors(file).Contains(anchor))
                    broken.Add($"{Relative(page)}: {target} (no such heading in {Relative(file)})");
            }
        }

        Assert.True(broken.Count == 0, "Broken links:\n" + string.Join('\n', broken));
    }

    [Fact]
    public void The_README_is_read_in_two_minutes()
    {
        var lines = File.ReadAllLines(Path.Combine(Root, "README.md")).Length;

        Assert.True(lines < 250, $"README.md has {lines} lines; the details belong in docs/.");
    }

    private static IEnumerable<string> Pages() =>
        Directory.EnumerateFiles(Root, "*.md", SearchOption.AllDirectories)
            .Where(p => !Relative(p).Split('/').Any(part => part is "bin" or "obj" or "node_modules" or "artifacts" || part.StartsWith('.')));

    // GitHub's anchors: the heading in lower case, punctuation but hyphens dropped, spaces as hyphens.
    private static HashSet<string> Anchors(string page) =>
        [.. HeadingPattern().Matches(FencePattern().Replace(File.ReadAllText(page), ""))
            .Select(h => string.Concat(h.Groups["text"].Value.Trim().ToLowerInvariant().Where(c => char.IsLetterOrDigit(c) || c is '-' or ' ' or '_')).Replace(' ', '-'))];

    // Links inside code blocks and spans are code, not links.
    private static string WithoutCode(string markdown) => InlineCodePattern().Replace(FencePattern().Replace(markdown, ""), "");

    private static string Relative(string path) => Path.GetRelativePath(Root, path).Replace('\\', '/');

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "KeepAlive.AspNetCore.sln")))
                return directory.FullName;
        }
        throw new InvalidOperationException("KeepAlive.AspNetCore.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"\]\((?<target>[^)\s]+)(\s+""[^""]*"")?\)")]
    private static partial Regex LinkPattern();

    [GeneratedRegex(@"^#{1,6}\s+(?<text>.+)$", RegexOptions.Multiline)]
    private static partial Regex HeadingPattern();

    [GeneratedRegex(@"^```.*?^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencePattern();

    [GeneratedRegex(@"`[^`\n]*`")]
    private static partial Regex InlineCodePattern();
}
