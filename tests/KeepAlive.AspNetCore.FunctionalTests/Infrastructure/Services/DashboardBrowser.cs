using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>
/// A real headless browser on the Aspire dashboard: Debian's chromium (package <c>chromium</c>, installed by
/// eng/test.sh), driven by Playwright's .NET client with its own executable path (Playwright's browser download does
/// not work here, nor is it needed). The dashboard is Blazor Server: a page is read once it has rendered what the
/// test waits for, not at its load event.
/// </summary>
internal sealed class DashboardBrowser : IAsyncDisposable
{
    // Debian's /usr/bin/chromium is a shell wrapper; Playwright starts the binary itself.
    public const string ChromiumPath = "/usr/lib/chromium/chromium";
    private static readonly TimeSpan RenderTimeout = TimeSpan.FromSeconds(20);
    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;
    private readonly Uri _dashboard;

    private DashboardBrowser(IPlaywright playwright, IBrowser browser, IPage page, Uri dashboard)
    {
        _playwright = playwright;
        _browser = browser;
        Page = page;
        _dashboard = dashboard;
    }

    public IPage Page { get; }

    public static async Task<DashboardBrowser> LaunchAsync(Uri dashboard)
    {
        if (!File.Exists(ChromiumPath))
            Assert.Fail($"The dashboard test needs Debian's chromium ({ChromiumPath}), which is not installed: apt-get install chromium (eng/test.sh does it).");
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                // As root no sandbox; and nothing that calls out (there is no network but loopback).
                Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
            });
            // Tall enough for a filter popup under the graph: it does not scroll with the page.
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { Locale = "en-US", TimezoneId = "UTC", ViewportSize = new ViewportSize { Width = 1440, Height = 1400 } });
            page.SetDefaultTimeout((float)RenderTimeout.TotalMilliseconds);
            return new DashboardBrowser(playwright, browser, page, dashboard);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the graph of <paramref name="instrument"/> of <paramref name="meter"/> for <paramref name="resource"/>,
    /// last 5 minutes, and waits until the instrument's header has rendered. Not its table view: in 13.6.5 a table that
    /// updates while it renders can kill the page's circuit (an ObjectDisposedException in Virtualize, logged by the
    /// dashboard), after which the page no longer answers clicks.
    /// </summary>
    public async Task OpenMetricAsync(string resource, string meter, string instrument)
    {
        var url = new Uri(_dashboard, $"/metrics/resource/{Uri.EscapeDataString(resource)}?meter={Uri.EscapeDataString(meter)}" +
            $"&instrument={Uri.EscapeDataString(instrument)}&duration=5");
        await Page.GotoAsync(url.ToString());
        var header = Page.Locator(".metrics-chart-header h3", new() { HasTextString = instrument });
        try
        {
            // A page opened while the dashboard is still taking in the resource's instruments may show "Select instrument."
            // with the URL's instrument ignored: pick it in the tree then, as a person would.
            try
            {
                await header.WaitForAsync(new() { Timeout = 5_000 });
            }
            catch (TimeoutException)
            {
                for (var attempt = 1; ; attempt++)
                {
                    await Page.Locator($"fluent-tree-item[title='{instrument}']").ClickAsync();
                    try
                    {
                        await header.WaitForAsync(new() { Timeout = 5_000 });
                        break;
                    }
                    catch (TimeoutException) when (attempt < 3)
                    {
                    }
                }
            }
            await Page.Locator(".js-plotly-plot").WaitForAsync();
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{url} did not show {instrument} within {RenderTimeout.TotalSeconds} s. The page read:\n{await Page.InnerTextAsync("body")}", ex);
        }
    }

    /// <summary>The meters and instruments the open metrics page lists in its tree, one a line.</summary>
    public async Task<IReadOnlyList<string>> TreeAsync() =>
        (await Page.Locator(".metrics-tree").First.InnerTextAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The description the open page shows under the instrument's name.</summary>
    public Task<string> DescriptionAsync() => Page.Locator(".metrics-chart-header p").First.InnerTextAsync();

    /// <summary>
    /// The series the open graph draws (plotly's own data on the chart element): each one's name, as the dashboard labels
    /// it (a counter's is its unit, "Connections" for <c>{connection}</c>; a histogram's are its percentiles), its
    /// latest value, and its hover text, which names the unit.
    /// </summary>
    public async Task<IReadOnlyList<ChartSeries>> SeriesAsync()
    {
        var json = await Page.Locator(".js-plotly-plot").First.EvaluateAsync<string>(
            "g => JSON.stringify((g.data || []).filter(d => d.name !== 'Exemplars').map(d => ({ name: d.name ?? '', latest: d.y && d.y.length ? Number(d.y[d.y.length - 1]) : null, text: (Array.isArray(d.text) && d.text.length ? String(d.text[d.text.length - 1]) : '') })))");
        return JsonSerializer.Deserialize<ChartSeries[]>(json, JsonSerializerOptions.Web)!;
    }

    /// <summary>The values a tag of the open instrument takes, as its filter chips list them.</summary>
    public async Task<IReadOnlyList<string>> TagValuesAsync(string tag)
    {
        var row = Page.Locator(".metrics-filters-section tr", new() { Has = Page.Locator($"td[title='{tag}']") });
        var chips = await row.Locator("button.filter-value-tag").AllInnerTextsAsync();
        return [.. chips.Where(c => !c.StartsWith('+'))];
    }

    /// <summary>Shows only <paramref name="value"/> of <paramref name="tag"/>, through the tag's filter popup, as a person solos a chip.</summary>
    public async Task SoloAsync(string tag, string value)
    {
        var popup = Page.Locator("fluent-popover-b[opened='true']");
        await ClosePopupAsync(popup);
        // One checkbox per value, titled with it, after "(All)". The page re-renders as data arrives, and a click can
        // land before the circuit handles events: so one change at a time, each from the state read just before it,
        // reopening the popup whenever it is not open, until only the value is on.
        var chips = Page.Locator(".metrics-filters-section tr", new() { Has = Page.Locator($"td[title='{tag}']") })
            .Locator("button.filter-value-tag.included-in-filters")
            .Filter(new() { HasNotTextRegex = new Regex(@"^\+\d+$") }); // "+3": the chips that do not fit, not a value
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var included = await chips.AllInnerTextsAsync();
            if (included.Count == 1 && included[0] == value)
                break;
            if (Stopwatch.GetElapsedTime(started) > RenderTimeout)
                throw new TimeoutException($"Soloing {tag} = {value} left {string.Join(", ", included)} in the filter.");
            if (await popup.CountAsync() == 0)
            {
                await Page.Locator($"[id^='typeFilterButton-{tag.Replace('.', '_')}']").ClickAsync();
                await Task.Delay(500, TestContext.Current.CancellationToken);
                continue;
            }
            var checkedValues = await popup.Locator("fluent-checkbox[title]").EvaluateAllAsync<string[]>(
                "boxes => boxes.filter(b => b.getAttribute('checked') === 'true').map(b => b.getAttribute('title'))");
            var change = !checkedValues.Contains(value) ? value : checkedValues.FirstOrDefault(v => v != value);
            try
            {
                if (change is not null)
                    await popup.Locator($"fluent-checkbox[title='{change}']").ClickAsync(new() { Timeout = 2_000 });
            }
            catch (TimeoutException)
            {
                // The popup closed under the click (a re-render): the next round reopens it.
            }
            await Task.Delay(300, TestContext.Current.CancellationToken);
        }
        await ClosePopupAsync(popup);
    }

    // A click beside the popup (on the instrument's name) closes it, as it would for a person.
    private async Task ClosePopupAsync(ILocator popup)
    {
        for (var attempt = 0; attempt < 5 && await popup.CountAsync() > 0; attempt++)
        {
            await Page.Locator(".metrics-chart-header h3").ClickAsync();
            await Task.Delay(300);
        }
    }

    /// <summary>
    /// The latest value of the graph (the open instrument summed over what the filters let through), polled until it is
    /// <paramref name="expected"/> or <paramref name="within"/> has passed; the last value read either way (null: no row).
    /// </summary>
    public Task<double?> LatestValueAsync(double expected, TimeSpan within) =>
        Eventually.SettlesAsync(ReadLatestValueAsync, value => value == expected, within, TimeSpan.FromMilliseconds(500));

    /// <summary>Saves what the page shows, its top <paramref name="height"/> pixels (the filter popups need the tall viewport, a picture does not).</summary>
    public Task ScreenshotAsync(string path, int height = 1050) =>
        Page.ScreenshotAsync(new PageScreenshotOptions { Path = path, Clip = new Clip { X = 0, Y = 0, Width = 1440, Height = height } });

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }

    private async Task<double?> ReadLatestValueAsync() => (await SeriesAsync()).FirstOrDefault()?.Latest;
}
