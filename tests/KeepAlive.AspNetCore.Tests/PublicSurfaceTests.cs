using System.Reflection;
using KeepAlive.AspNetCore.Tests.Infrastructure;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// The reflection behind PublicTypeShapeTests and PublicApiDocumentationTests, on a fixture with the shapes the
/// library does not have yet: a member it failed to list would go without its documentation check, a base
/// type left out would let a change of the real surface through review unseen.
/// </summary>
public class PublicSurfaceTests
{
    [Fact]
    public void Shape_names_the_kind_and_every_base_type()
    {
        Assert.Equal("KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Fixture (abstract class) : System.IDisposable", PublicSurface.Shape(typeof(Fixture)));
        Assert.Equal("KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Sealed (sealed class) : System.Attribute, System.IEquatable<System.String>", PublicSurface.Shape(typeof(Sealed)));
        Assert.Equal("KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Fixture.Nested (static class)", PublicSurface.Shape(typeof(Fixture.Nested)));
    }

    [Fact]
    public void Members_are_those_another_assembly_can_use()
    {
        Assert.Equal(
            ["#ctor", "Changed", "Convert", "Dispose", "Item", "Limit", "Name", "OnChanged", "Shared", "ToString", "Total"],
            PublicSurface.Members(typeof(Fixture)).Select(m => m is ConstructorInfo ? "#ctor" : m.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Documentation_ids_are_spelled_as_the_compiler_writes_them()
    {
        var type = typeof(Fixture);
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

        Assert.Equal("T:KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Fixture", PublicSurface.DocumentationId(type));
        Assert.Equal("M:KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Fixture.#ctor(System.Int32)", PublicSurface.DocumentationId(type.GetConstructors(All).Single(c => !c.IsStatic)));
        Assert.Equal("M:KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Fixture.Convert``1(``0,System.String)", PublicSurface.DocumentationId(type.GetMethod(nameof(Fixture.Convert))!));
        Assert.Equal("M:KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Fixture.OnChanged(System.Int32@,System.Nullable{System.TimeSpan}@,System.String[])", PublicSurface.DocumentationId(type.GetMethod("OnChanged", All)!));
        Assert.Equal("P:KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Fixture.Item(System.Int32)", PublicSurface.DocumentationId(type.GetProperty("Item")!));
        Assert.Equal("F:KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Fixture.Limit", PublicSurface.DocumentationId(type.GetField(nameof(Fixture.Limit))!));
        Assert.Equal("E:KeepAlive.AspNetCore.Tests.PublicSurfaceTests.Fixture.Changed", PublicSurface.DocumentationId(type.GetEvent(nameof(Fixture.Changed))!));
        Assert.Equal("M:System.Collections.Generic.Dictionary`2.TryGetValue(`0,`1@)", PublicSurface.DocumentationId(typeof(Dictionary<,>).GetMethod("TryGetValue")!));
    }

#pragma warning disable CS0067 // the event is only looked at
    public abstract class Fixture : IDisposable
    {
        public const int Limit = 127;
        public static readonly Uri Shared = new("http://127.0.0.1/");
        internal int hidden;
        private protected int alsoHidden;

        protected Fixture(int count) => hidden = alsoHidden = count;

        public event EventHandler? Changed;

        public string? Name { get; init; }

        public virtual long Total { get; protected set; }

        public string this[int index] => index.ToString(System.Globalization.CultureInfo.InvariantCulture);

        internal string? Internal { get; set; }

        public static List<T?> Convert<T>(T value, string? format = null) => [value];

        public void Dispose() => GC.SuppressFinalize(this);

        public override string ToString() => Name ?? "";

        protected abstract bool OnChanged(ref int state, out TimeSpan? elapsed, params string[] tags);

        internal void NotVisible() { }

        public static class Nested;
    }

    public sealed class Sealed : Attribute, IEquatable<string>
    {
        public bool Equals(string? other) => false;
    }
#pragma warning restore CS0067
}
