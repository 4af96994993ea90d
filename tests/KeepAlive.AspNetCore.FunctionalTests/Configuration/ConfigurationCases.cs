using System.Globalization;

namespace KeepAlive.AspNetCore.FunctionalTests.Configuration;

/// <summary>
/// Configurations to try, valid and invalid, generated from a seed (so a failure can be rerun) plus the ones issue 13
/// found: every key, values in each TimeSpan form, key casing, JSON files and environment variables alone and layered.
/// The Kestrel configuration endpoints are <c>Http</c> and <c>Plain</c>.
/// </summary>
internal static class ConfigurationCases
{
    private static readonly int[] IdleSeconds = [1, 5, 30, 60, 300, 7200, 32767];
    private static readonly int[] IntervalSeconds = [1, 2, 5, 10, 75, 300];
    private static readonly int[] ProbeCounts = [1, 3, 6, 9, 127];
    private static readonly string[] PolicyNames = ["streaming", "fast", "Behind-LB", "p0"];
    private static readonly string[] Presets = ["AzureLoadBalancer", "AwsNetworkLoadBalancer", "GoogleCloudLoadBalancer", "Aggressive"];

    /// <summary>Configurations that must start, each read back on real sockets.</summary>
    public static IEnumerable<ConfigurationCase> Valid(int seed, int count)
    {
        // Issue 13: "default" names the top-level policy; an empty UserTimeout is derived, 00:00:00 is off.
        yield return Env("endpoint mapped to default", ("KeepAlive:Idle", "00:00:20"), ("KeepAlive:Policies:fast:Preset", "Aggressive"), ("KeepAlive:Endpoints:Http", "default"));
        yield return Env("empty UserTimeout is derived", ("KeepAlive:Idle", "00:00:20"), ("KeepAlive:UserTimeout", ""));
        yield return Env("UserTimeout 00:00:00 is off", ("KeepAlive:Idle", "00:00:20"), ("KeepAlive:UserTimeout", "00:00:00"));
        yield return new("environment variable overrides appsettings.json",
        [
            new(true, Settings(("KeepAlive:Idle", "00:01:00"), ("KeepAlive:UserTimeout", "00:00:45"), ("KeepAlive:Policies:fast:Preset", "Aggressive"))),
            new(false, Settings(("KEEPALIVE:IDLE", "00:00:30"), ("keepalive:usertimeout", ""), ("KeepAlive:Endpoints:http", "FAST"))),
        ]);

        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var settings = new List<KeyValuePair<string, string?>>();
            AddPolicy(random, settings, "KeepAlive", topLevel: true);
            var names = PolicyNames.OrderBy(_ => random.Next()).Take(random.Next(3)).ToList();
            foreach (var name in names)
                AddPolicy(random, settings, $"KeepAlive:Policies:{name}", topLevel: false);
            var mapping = random.Next(4) switch
            {
                0 when names.Count > 0 => names[random.Next(names.Count)],
                1 => random.Next(2) == 0 ? "default" : "Default",
                _ => null,
            };
            if (mapping is not null)
                settings.Add(KeyValuePair.Create("KeepAlive:Endpoints:Http", (string?)Cased(random, mapping)));
            var cased = settings.Select(s => KeyValuePair.Create(CasedKey(random, s.Key), s.Value)).ToList();
            yield return new($"generated {i} (seed {seed})", Layered(random, cased));
        }
    }

    /// <summary>Configurations that must fail at startup, each naming its bad key.</summary>
    public static IEnumerable<ConfigurationCase> Invalid(int seed)
    {
        var random = new Random(seed);
        var bases = Valid(seed + 1, 200).Skip(4).GetEnumerator();
        foreach (var (name, faults, badKey) in Faults())
        {
            bases.MoveNext();
            var layers = bases.Current.Layers.ToList();
            // A layer of its own, so that a section next to a value (Idle and Idle:Seconds) comes from two sources, as in
            // the issue (appsettings.json and an environment variable).
            foreach (var fault in faults)
                layers.Add(new ConfigurationLayer(random.Next(2) == 0, [KeyValuePair.Create(CasedKey(random, fault.Key), fault.Value)]));
            yield return new ConfigurationCase(name, layers, badKey);
        }
    }

    // Each fault: a name, the settings that make it, and the key the failure must name.
    private static IEnumerable<(string Name, (string Key, string? Value)[] Settings, string BadKey)> Faults()
    {
        // A value where a section belongs.
        yield return ("KeepAlive=x", [("KeepAlive", "x")], "KeepAlive");
        yield return ("Policies=x", [("KeepAlive:Policies", "x")], "KeepAlive:Policies");
        yield return ("Endpoints=x", [("KeepAlive:Endpoints", "x")], "KeepAlive:Endpoints");
        yield return ("policy as a value", [("KeepAlive:Policies:fast", "Aggressive"), ("KeepAlive:Endpoints:Http", "fast")], "KeepAlive:Policies:fast");
        // A section where a value belongs, with the value set in another source too.
        foreach (var key in new[] { "Idle", "Interval", "ProbeCount", "UserTimeout", "Enabled" })
        {
            yield return ($"{key} as a section", [($"KeepAlive:{key}:Seconds", "5")], $"KeepAlive:{key}");
            yield return ($"{key} as a value and a section", [($"KeepAlive:{key}", key == "Enabled" ? "true" : key == "ProbeCount" ? "3" : "00:01:00"), ($"KeepAlive:{key}:Seconds", "5")], $"KeepAlive:{key}");
        }
        yield return ("Preset as a section", [("KeepAlive:Policies:bad:Preset:Name", "Aggressive")], "KeepAlive:Policies:bad:Preset");
        yield return ("endpoint as a section", [("KeepAlive:Endpoints:Http:Policy", "default")], "KeepAlive:Endpoints:Http");
        // Empty names and lists.
        yield return ("policy with an empty name", [("KeepAlive:Policies::Idle", "00:00:05")], "KeepAlive:Policies");
        yield return ("policies as a list", [("KeepAlive:Policies:0:Idle", "00:00:05"), ("KeepAlive:Policies:1:Preset", "Aggressive")], "KeepAlive:Policies");
        yield return ("endpoints as a list", [("KeepAlive:Endpoints:0", "default")], "KeepAlive:Endpoints");
        // Durations: forms without seconds or outside [-][d.]hh:mm:ss[.fffffff], and values out of range, top level and named.
        string[] badForms = ["00:30", "1:00", "1.02:03", "24:00:00", "0:00:00:30", "30", "abc", "00:00:30,5", "1e3", "00:01:00.", ""];
        string[] outOfRange = ["00:00:00", "09:06:08", "00:00:01.5", "-00:00:05"];
        foreach (var section in new[] { "KeepAlive", "KeepAlive:Policies:bad" })
        {
            foreach (var key in new[] { "Idle", "Interval", "UserTimeout" })
            {
                foreach (var value in key == "UserTimeout" ? badForms.Where(v => v.Length > 0) : badForms.Concat(outOfRange))
                    yield return ($"{key} '{value}'", [($"{section}:{key}", value)], $"{section}:{key}");
            }
            foreach (var value in new[] { "-00:00:01", "00:00:00.0005", "24.20:31:23.648" })
                yield return ($"UserTimeout '{value}'", [($"{section}:UserTimeout", value)], $"{section}:UserTimeout");
            foreach (var value in new[] { "0", "128", "x", "3.5", "" })
                yield return ($"ProbeCount '{value}'", [($"{section}:ProbeCount", value)], $"{section}:ProbeCount");
            foreach (var value in new[] { "yes", "1", "" })
                yield return ($"Enabled '{value}'", [($"{section}:Enabled", value)], $"{section}:Enabled");
            yield return ("unknown key", [($"{section}:Idel", "00:00:30")], $"{section}:Idel");
        }
        yield return ("unknown preset", [("KeepAlive:Policies:bad:Preset", "Fast")], "KeepAlive:Policies:bad:Preset");
        yield return ("policy named default", [("KeepAlive:Policies:default:Idle", "00:00:05")], "KeepAlive:Policies:default");
        yield return ("endpoint naming no policy", [("KeepAlive:Endpoints:Http", "nope")], "KeepAlive:Endpoints:Http");
        yield return ("endpoint naming nothing", [("KeepAlive:Endpoints:Http", "")], "KeepAlive:Endpoints:Http");
        yield return ("endpoint Kestrel lacks", [("KeepAlive:Endpoints:Htp", "default")], "KeepAlive:Endpoints:Htp");
        yield return ("derived user timeout beyond the kernel's",
            [("KeepAlive:Enabled", "true"), ("KeepAlive:Idle", "09:06:07"), ("KeepAlive:Interval", "09:06:07"), ("KeepAlive:ProbeCount", "127"), ("KeepAlive:UserTimeout", "")],
            "KeepAlive:UserTimeout");
    }

    // Some of the keys of one policy, each value in one of the forms that mean it.
    private static void AddPolicy(Random random, List<KeyValuePair<string, string?>> settings, string section, bool topLevel)
    {
        var before = settings.Count;
        void Add(string key, string? value) => settings.Add(KeyValuePair.Create($"{section}:{key}", value));

        if (!topLevel && random.Next(5) < 2)
            Add("Preset", Cased(random, Presets[random.Next(Presets.Length)]));
        if (random.Next(7) == 0)
            Add("Enabled", Cased(random, random.Next(3) == 0 ? "true" : "false"));
        if (random.Next(3) > 0)
            Add("Idle", Duration(random, TimeSpan.FromSeconds(IdleSeconds[random.Next(IdleSeconds.Length)])));
        if (random.Next(3) > 0)
            Add("Interval", Duration(random, TimeSpan.FromSeconds(IntervalSeconds[random.Next(IntervalSeconds.Length)])));
        if (random.Next(3) > 0)
            Add("ProbeCount", ProbeCounts[random.Next(ProbeCounts.Length)].ToString(CultureInfo.InvariantCulture));
        switch (random.Next(6))
        {
            case 0: Add("UserTimeout", ""); break;
            case 1: Add("UserTimeout", Duration(random, TimeSpan.Zero)); break;
            case 2: Add("UserTimeout", Duration(random, TimeSpan.FromMilliseconds(random.Next(1, 3_000_000)))); break;
            case 3: Add("UserTimeout", Duration(random, TimeSpan.FromDays(1) + TimeSpan.FromSeconds(random.Next(1, 100)))); break;
        }
        // A named policy exists through its keys: one without any is not in the configuration at all.
        if (!topLevel && settings.Count == before)
            Add("ProbeCount", "4");
    }

    // One JSON file, environment variables alone, or both: the file with everything, the variables overriding some keys.
    private static List<ConfigurationLayer> Layered(Random random, List<KeyValuePair<string, string?>> settings)
    {
        switch (random.Next(3))
        {
            case 0:
                return [new(true, settings)];
            case 1:
                return [new(false, settings)];
            default:
                var overridden = settings.Where(_ => random.Next(3) == 0).ToList();
                return [new(true, settings.Except(overridden).ToList()), new(false, overridden)];
        }
    }

    // [-][d.]hh:mm:ss[.fffffff] as an operator may write it: padded or not, with a day or a fraction of zeros or not.
    private static string Duration(Random random, TimeSpan value)
    {
        var canonical = value.ToString("c", CultureInfo.InvariantCulture);
        return random.Next(5) switch
        {
            0 when value < TimeSpan.FromDays(1) => string.Create(CultureInfo.InvariantCulture, $"{value.Hours}:{value.Minutes}:{value.Seconds}{(value.Milliseconds > 0 ? $".{value.Milliseconds:000}" : "")}"),
            1 when value < TimeSpan.FromDays(1) => "0." + canonical,
            2 when value.Ticks % TimeSpan.TicksPerSecond == 0 => canonical + ".000",
            3 => $" {canonical} ",
            _ => canonical,
        };
    }

    private static string CasedKey(Random random, string key) => string.Join(":", key.Split(':').Select(segment => Cased(random, segment)));

    // Configuration keys and policy, preset and endpoint names are case-insensitive: any casing must mean the same.
    private static string Cased(Random random, string text) => random.Next(4) switch
    {
        0 => text.ToUpperInvariant(),
        1 => text.ToLowerInvariant(),
        _ => text,
    };

    private static ConfigurationCase Env(string name, params (string Key, string? Value)[] settings) => new(name, [new(false, Settings(settings))]);

    private static List<KeyValuePair<string, string?>> Settings(params (string Key, string? Value)[] settings) =>
        [.. settings.Select(s => KeyValuePair.Create(s.Key, s.Value))];
}
