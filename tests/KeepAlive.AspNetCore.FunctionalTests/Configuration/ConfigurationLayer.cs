using System.Globalization;
using System.Text;
using System.Text.Json;

namespace KeepAlive.AspNetCore.FunctionalTests.Configuration;

/// <summary>One configuration source: keys written with ':' (as the host reads them), rendered as JSON or as environment variables.</summary>
internal sealed record ConfigurationLayer(bool Json, IReadOnlyList<KeyValuePair<string, string?>> Settings)
{
    /// <summary>The settings as an appsettings.json: nested objects, keys 0, 1, ... as an array, whole numbers as numbers.</summary>
    public string ToJson()
    {
        var root = new Node();
        foreach (var (key, value) in Settings)
        {
            var node = root;
            foreach (var segment in key.Split(':'))
                node = node.Child(segment);
            node.Value = value;
        }
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            if (Settings.Count == 0)
                writer.WriteRawValue("{}");
            else
                root.Write(writer);
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private sealed class Node
    {
        private readonly List<(string Key, Node Node)> _children = [];

        public string? Value { get; set; }

        public Node Child(string key)
        {
            foreach (var (existing, node) in _children)
            {
                if (existing == key)
                    return node;
            }
            var child = new Node();
            _children.Add((key, child));
            return child;
        }

        public void Write(Utf8JsonWriter writer)
        {
            if (_children.Count == 0)
            {
                if (Value is null)
                    writer.WriteNullValue();
                else if (int.TryParse(Value, out var number) && number.ToString(CultureInfo.InvariantCulture) == Value)
                    writer.WriteNumberValue(number);
                else
                    writer.WriteStringValue(Value);
                return;
            }
            // A value and children at once is what no JSON file holds: a case puts them in two layers.
            Assert.Null(Value);
            var array = _children.Select((c, i) => c.Key == i.ToString(CultureInfo.InvariantCulture)).All(b => b);
            if (array)
                writer.WriteStartArray();
            else
                writer.WriteStartObject();
            foreach (var (key, node) in _children)
            {
                if (!array)
                    writer.WritePropertyName(key);
                node.Write(writer);
            }
            if (array)
                writer.WriteEndArray();
            else
                writer.WriteEndObject();
        }
    }
}
