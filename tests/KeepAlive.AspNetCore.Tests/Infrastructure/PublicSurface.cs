using System.Reflection;
using System.Runtime.CompilerServices;

namespace KeepAlive.AspNetCore.Tests.Infrastructure;

/// <summary>
/// The public surface of an assembly, found by reflection: every type another assembly can name and
/// every member it can call (public, or protected on a type it can derive from). The members themselves
/// are tracked by the PublicApiAnalyzers (src/KeepAlive.AspNetCore/PublicAPI.*.txt); this reads what
/// those files do not record: each type's kind and base types, and each member's documentation-comment id.
/// </summary>
internal static class PublicSurface
{
    private static readonly BindingFlags Declared =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Public types, nested public types of public types included.</summary>
    public static IEnumerable<Type> Types(Assembly assembly) => assembly.GetExportedTypes();

    /// <summary>The members of <paramref name="type"/> another assembly can use, accessors left to their property or event.</summary>
    public static IEnumerable<MemberInfo> Members(Type type) =>
        type.GetMembers(Declared).Where(m => m switch
        {
            ConstructorInfo c => !c.IsStatic && IsVisible(c, type),
            MethodInfo method => (!method.IsSpecialName || method.Name.StartsWith("op_", StringComparison.Ordinal)) && IsVisible(method, type),
            PropertyInfo property => property.GetAccessors(nonPublic: true).Any(a => IsVisible(a, type)),
            EventInfo @event => @event.AddMethod is { } add && IsVisible(add, type),
            FieldInfo field => !field.IsSpecialName && (field.IsPublic || (!type.IsSealed && (field.IsFamily || field.IsFamilyOrAssembly))),
            _ => false, // nested types are listed by Types
        });

    /// <summary>
    /// A type's kind and what it derives from, e.g. <c>KeepAlive.AspNetCore.KeepAlivePolicyAttribute (sealed class) : System.Attribute,
    /// KeepAlive.AspNetCore.IKeepAlivePolicyMetadata</c>. The PublicAPI files list a type by its name alone: unsealing a class
    /// or dropping an interface from it would pass the analyzer.
    /// </summary>
    public static string Shape(Type type)
    {
        var kind =
            type.IsEnum ? "enum" :
            type.IsInterface ? "interface" :
            type.IsValueType ? (type.IsDefined(typeof(IsReadOnlyAttribute)) ? "readonly struct" : "struct") :
            typeof(Delegate).IsAssignableFrom(type.BaseType) ? "delegate" :
            type is { IsAbstract: true, IsSealed: true } ? "static class" :
            type.IsAbstract ? "abstract class" :
            type.IsSealed ? "sealed class" : "class";

        var bases = new List<string>();
        if (type.BaseType is { } baseType && baseType != typeof(object) && baseType != typeof(ValueType) && baseType != typeof(Enum) && kind != "delegate")
            bases.Add(Name(baseType));
        if (type.IsEnum)
            bases.Add(Name(Enum.GetUnderlyingType(type)));
        bases.AddRange(type.GetInterfaces().Select(Name).Order(StringComparer.Ordinal));

        return $"{Name(type)} ({kind}){(bases.Count > 0 ? " : " + string.Join(", ", bases) : "")}";
    }

    private static bool IsVisible(MethodBase method, Type type) =>
        method.IsPublic || (!type.IsSealed && (method.IsFamily || method.IsFamilyOrAssembly));

    /// <summary>A type namespace-qualified, its generic arguments in angle brackets.</summary>
    private static string Name(Type type)
    {
        var name = (type.IsNested ? $"{Name(type.DeclaringType!)}.{type.Name}" : $"{type.Namespace}.{type.Name}").Split('`')[0];
        return type.IsGenericType ? $"{name}<{string.Join(", ", type.GetGenericArguments().Select(a => a.IsGenericParameter ? a.Name : Name(a)))}>" : name;
    }

    // ----- Documentation-comment ids (ECMA-334 annex D), as in the compiler's XML file -----

    /// <summary>The id the compiler writes for <paramref name="member"/> in the XML documentation file.</summary>
    public static string DocumentationId(MemberInfo member)
    {
        switch (member)
        {
            case Type type:
                return "T:" + DocTypeName(type, definition: true);
            case MethodBase method:
                var name = method is ConstructorInfo ? "#ctor" : method.Name;
                var arity = method.IsGenericMethodDefinition ? "``" + method.GetGenericArguments().Length : "";
                var parameters = DocParameters(method.GetParameters());
                var conversion = method.Name is "op_Implicit" or "op_Explicit" ? "~" + DocTypeName(((MethodInfo)method).ReturnType) : "";
                return $"M:{DocTypeName(method.DeclaringType!, definition: true)}.{name}{arity}{parameters}{conversion}";
            case PropertyInfo property:
                return $"P:{DocTypeName(property.DeclaringType!, definition: true)}.{property.Name}{DocParameters(property.GetIndexParameters())}";
            case EventInfo @event:
                return $"E:{DocTypeName(@event.DeclaringType!, definition: true)}.{@event.Name}";
            case FieldInfo field:
                return $"F:{DocTypeName(field.DeclaringType!, definition: true)}.{field.Name}";
            default:
                throw new NotSupportedException(member.ToString());
        }
    }

    private static string DocParameters(ParameterInfo[] parameters) =>
        parameters.Length == 0 ? "" : "(" + string.Join(",", parameters.Select(p => DocTypeName(p.ParameterType))) + ")";

    private static string DocTypeName(Type type, bool definition = false)
    {
        if (type.IsByRef)
            return DocTypeName(type.GetElementType()!) + "@";
        if (type.IsPointer)
            return DocTypeName(type.GetElementType()!) + "*";
        if (type.IsArray)
            return DocTypeName(type.GetElementType()!) + (type.GetArrayRank() == 1 ? "[]" : "[" + string.Join(",", Enumerable.Repeat("0:", type.GetArrayRank())) + "]");
        if (type.IsGenericParameter)
            return (type.DeclaringMethod is null ? "`" : "``") + type.GenericParameterPosition;

        var prefix = type.IsNested ? DocTypeName(type.DeclaringType!, definition) + "." : type.Namespace is { } ns ? ns + "." : "";
        if (definition || !type.IsGenericType)
            return prefix + type.Name; // a definition keeps its arity suffix: List`1

        // A constructed type lists its own arguments (not those of an enclosing generic type) in braces.
        var own = type.GetGenericArguments().Skip(type.IsNested ? type.DeclaringType!.GetGenericArguments().Length : 0).ToArray();
        var name = type.Name.Split('`')[0];
        return own.Length == 0 ? prefix + name : $"{prefix}{name}{{{string.Join(",", own.Select(a => DocTypeName(a)))}}}";
    }
}
