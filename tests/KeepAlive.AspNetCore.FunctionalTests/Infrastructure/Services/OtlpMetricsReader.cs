using System.Text;

namespace KeepAlive.AspNetCore.FunctionalTests.Infrastructure.Services;

/// <summary>
/// Reads the Sum data points out of an OTLP ExportMetricsServiceRequest by walking the protobuf wire
/// format (field numbers from opentelemetry/proto/metrics/v1/metrics.proto); the generated OTLP types
/// are not a package on this project's mirror.
/// </summary>
public static class OtlpMetricsReader
{
    public static IEnumerable<OtlpDataPoint> ReadSumDataPoints(byte[] request)
    {
        foreach (var resourceMetrics in Fields(request, 1))            // ExportMetricsServiceRequest.resource_metrics
        foreach (var scopeMetrics in Fields(resourceMetrics, 2))       // ResourceMetrics.scope_metrics
        foreach (var metric in Fields(scopeMetrics, 2))                // ScopeMetrics.metrics
        {
            var name = Text(Fields(metric, 1).FirstOrDefault());       // Metric.name
            var unit = Text(Fields(metric, 3).FirstOrDefault());       // Metric.unit
            foreach (var sum in Fields(metric, 7))                     // Metric.sum
            foreach (var point in Fields(sum, 1))                      // Sum.data_points: NumberDataPoint
            {
                var attributes = Fields(point, 7).ToDictionary(          // NumberDataPoint.attributes: KeyValue
                    kv => Text(Fields(kv, 1).First()),
                    kv => AnyValueText(Fields(kv, 2).First()));
                yield return new OtlpDataPoint(name, unit, attributes, NumberValue(point));
            }
        }
    }

    /// <summary>The <c>service.name</c> of each ResourceMetrics (its Resource's attributes).</summary>
    public static IEnumerable<string> ReadServiceNames(byte[] request) =>
        from resourceMetrics in Fields(request, 1)                     // ExportMetricsServiceRequest.resource_metrics
        from resource in Fields(resourceMetrics, 1)                    // ResourceMetrics.resource
        from kv in Fields(resource, 1)                                 // Resource.attributes: KeyValue
        where Text(Fields(kv, 1).First()) == "service.name"
        select AnyValueText(Fields(kv, 2).First());

    // AnyValue: string_value = 1, int_value = 3 (varint); the attributes here are one or the other.
    private static string AnyValueText(byte[] anyValue)
    {
        foreach (var (number, wireType, value, bytes) in Read(anyValue))
        {
            if (number == 1 && wireType == 2) return Text(bytes);
            if (number == 3 && wireType == 0) return ((long)value).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        return "";
    }

    // NumberDataPoint: as_double = 4 (fixed64), as_int = 6 (sfixed64).
    private static double NumberValue(byte[] point)
    {
        foreach (var (number, wireType, value, _) in Read(point))
        {
            if (number == 4 && wireType == 1) return BitConverter.Int64BitsToDouble((long)value);
            if (number == 6 && wireType == 1) return (long)value;
        }
        return double.NaN;
    }

    private static string Text(byte[]? bytes) => bytes is null ? "" : Encoding.UTF8.GetString(bytes);

    private static IEnumerable<byte[]> Fields(byte[] message, int fieldNumber) =>
        Read(message).Where(f => f.Number == fieldNumber && f.WireType == 2).Select(f => f.Bytes!);

    private static List<(int Number, int WireType, ulong Value, byte[]? Bytes)> Read(byte[] message)
    {
        var fields = new List<(int, int, ulong, byte[]?)>();
        var position = 0;
        while (position < message.Length)
        {
            var key = Varint(message, ref position);
            int number = (int)(key >> 3), wireType = (int)(key & 7);
            switch (wireType)
            {
                case 0: fields.Add((number, wireType, Varint(message, ref position), null)); break;
                case 1: fields.Add((number, wireType, BitConverter.ToUInt64(message, position), null)); position += 8; break;
                case 5: fields.Add((number, wireType, BitConverter.ToUInt32(message, position), null)); position += 4; break;
                case 2:
                    var length = (int)Varint(message, ref position);
                    fields.Add((number, wireType, 0, message[position..(position + length)]));
                    position += length;
                    break;
                default: throw new InvalidDataException($"Unexpected protobuf wire type {wireType}.");
            }
        }
        return fields;
    }

    private static ulong Varint(byte[] buffer, ref int position)
    {
        ulong result = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = buffer[position++];
            result |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return result;
        }
    }
}
