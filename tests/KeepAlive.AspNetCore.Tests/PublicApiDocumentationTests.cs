using System.Reflection;
using System.Xml.Linq;
using KeepAlive.AspNetCore.Tests.Infrastructure;

namespace KeepAlive.AspNetCore.Tests;

/// <summary>
/// Every public type and member has a summary in the XML documentation file, which is what IntelliSense
/// shows users of the package. The compiler's CS1591 is satisfied by any doc comment (a lone
/// <c>&lt;param&gt;</c>, an <c>&lt;inheritdoc/&gt;</c> without a base) and can be turned off with NoWarn.
/// </summary>
public class PublicApiDocumentationTests
{
    [Fact]
    public void Every_public_type_and_member_has_a_summary()
    {
        var assembly = typeof(KeepAliveOptions).Assembly;
        // The build copies the library's XML file next to its dll in this test's output.
        var file = Path.ChangeExtension(assembly.Location, ".xml");
        Assert.True(File.Exists(file), $"{file} is missing: the library must keep <GenerateDocumentationFile>true</GenerateDocumentationFile>.");
        var summaries = XDocument.Load(file).Descendants("member").ToDictionary(
            m => (string)m.Attribute("name")!,
            m => m.Element("summary")?.Value.Trim());

        var missing = new List<string>();
        foreach (var type in PublicSurface.Types(assembly))
        {
            foreach (var member in PublicSurface.Members(type).Prepend(type))
            {
                // The implicit constructor of a class without one cannot carry a comment (an explicit one without a
                // comment fails the build with CS1591); the type's summary speaks for it.
                if (member is ConstructorInfo { IsPublic: true } ctor && ctor.GetParameters().Length == 0 && !summaries.ContainsKey(PublicSurface.DocumentationId(ctor)))
                    continue;

                var id = PublicSurface.DocumentationId(member);
                if (!summaries.TryGetValue(id, out var summary) || string.IsNullOrEmpty(summary))
                    missing.Add(id);
            }
        }

        Assert.True(missing.Count == 0, $"No <summary> in {Path.GetFileName(file)} for:{Environment.NewLine}{string.Join(Environment.NewLine, missing)}");
    }
}
