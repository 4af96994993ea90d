using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// docs/logging.md is where an operator looks an event up, by the id or name in a log line, and where the advice the
/// templates no longer carry lives: every event of <see cref="KeepAliveLog"/> has its table row (id, name, level) and
/// its section, in id order, with an example that matches its template; the page lists no event the library lacks.
/// </summary>
public partial class LoggingDocumentationTests
{

    [Fact]
    public void Every_event_has_its_table_row_and_its_section_in_id_order()
    {
        var page = ReadPage();
        var rows = RowPattern().Matches(page).ToLookup(m => int.Parse(m.Groups["id"].Value), m => (Name: m.Groups["name"].Value, Level: m.Groups["level"].Value));
        var headings = Headings(page);

        var problems = new List<string>();
        foreach (var e in Events())
        {
            if (!rows[e.Id].Contains((e.Name, e.Level)))
                problems.Add($"{e.Id} {e.Name}: no table row '| {e.Id} | `{e.Name}` | {e.Level} |' (the page has: {string.Join("; ", rows[e.Id])})");
            if (!headings.Contains(e.Name))
                problems.Add($"{e.Id} {e.Name}: no section '### {e.Name}'");
        }
        Assert.Empty(problems);
        // An operator reads down the page by id, as the table lists them.
        Assert.Equal(Events().Select(e => e.Name), headings);
    }

    [Fact]
    public void The_page_documents_no_event_the_library_lacks()
    {
        var page = ReadPage();
        var events = Events();
        var ids = events.Select(e => e.Id).ToHashSet();
        var names = events.Select(e => e.Name).ToHashSet();

        Assert.DoesNotContain(RowPattern().Matches(page), row => !ids.Contains(int.Parse(row.Groups["id"].Value)));
        Assert.DoesNotContain(Headings(page), name => !names.Contains(name));
        // The page says which id comes next: the highest one there is.
        Assert.Contains($"The highest id is {ids.Max()}.", page, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_section_has_an_example_that_matches_its_template()
    {
        var page = ReadPage();
        var headings = HeadingPattern().Matches(page).ToList();
        var problems = new List<string>();
        foreach (var e in Events())
        {
            var heading = headings.FirstOrDefault(h => h.Groups["name"].Value == e.Name);
            if (heading is null)
                continue; // the first test names it
            var next = headings.FirstOrDefault(h => h.Index > heading.Index);
            var section = page[heading.Index..(next?.Index ?? page.Length)];
            // The template's own text word for word, each {Field} filled with anything.
            var template = new Regex("^" + string.Join(".*?", PlaceholderPattern().Split(e.Template).Select(Regex.Escape)) + "$", RegexOptions.Singleline);
            if (!CodeBlockPattern().Matches(section).Any(block => template.IsMatch(block.Groups["text"].Value)))
                problems.Add($"{e.Name}: no example block matches \"{e.Template}\"");
        }
        Assert.Empty(problems);
    }

    private sealed record Event(int Id, string Name, string Level, string Template);

    // Every [LoggerMessage] of KeepAliveLog, by id, read as LogEventIdTests reads them.
    private static List<Event> Events() =>
        typeof(KeepAliveLog).GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
            .Select(m => m.GetCustomAttribute<LoggerMessageAttribute>())
            .OfType<LoggerMessageAttribute>()
            .Select(a => new Event(a.EventId, a.EventName ?? "", a.Level.ToString(), a.Message))
            .OrderBy(e => e.Id)
            .ToList();

    private static List<string> Headings(string page) => HeadingPattern().Matches(page).Select(m => m.Groups["name"].Value).ToList();

    private static string ReadPage()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "KeepAlive.AspNetCore.sln")))
            root = root.Parent;
        Assert.NotNull(root);
        var page = Path.Combine(root.FullName, "docs", "logging.md");
        Assert.True(File.Exists(page), $"{page} is missing.");
        return File.ReadAllText(page).ReplaceLineEndings("\n");
    }

    // `| 5 | [`ConnectionLost`](#connectionlost) | Information | ...`: the id, the name (plain, quoted or linked), the level.
    [GeneratedRegex(@"^\|\s*(?<id>\d+)\s*\|\s*\[?`?(?<name>\w+)`?\]?(?:\([^)]*\))?\s*\|\s*(?<level>\w+)\s*\|", RegexOptions.Multiline)]
    private static partial Regex RowPattern();

    // Only the events' sections are ### headings; the page's other sections are ##.
    [GeneratedRegex(@"^### (?<name>.+?)\s*$", RegexOptions.Multiline)]
    private static partial Regex HeadingPattern();

    [GeneratedRegex(@"^```[a-z]*\n(?<text>.*?)\n```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CodeBlockPattern();

    [GeneratedRegex(@"\{\w+\}")]
    private static partial Regex PlaceholderPattern();
}
