using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace KeepAlive.AspNetCore.Tests.Infrastructure;

/// <summary>
/// The public surface of an assembly, found by reflection: every type another assembly can name and
/// every member it can call (public, or protected on a type it can derive from). Renders one line per
/// type or member for the public API file, and each one's documentation-comment id for the XML docs.
/// </summary>
internal static class PublicSurface
{
    private static readonly BindingFlags Declared =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static readonly Dictionary<Type, string> Keywords = new()
    {
        [typeof(void)] = "void", [typeof(object)] = "object", [typeof(string)] = "string", [typeof(bool)] = "bool",
        [typeof(byte)] = "byte", [typeof(sbyte)] = "sbyte", [typeof(char)] = "char", [typeof(short)] = "short",
        [typeof(ushort)] = "ushort", [typeof(int)] = "int", [typeof(uint)] = "uint", [typeof(long)] = "long",
        [typeof(ulong)] = "ulong", [typeof(float)] = "float", [typeof(double)] = "double", [typeof(decimal)] = "decimal",
        [typeof(nint)] = "nint", [typeof(nuint)] = "nuint",
    };

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
            FieldInfo field => !field.IsSpecialName && IsVisible(field, type),
            _ => false, // nested types are listed by Types
        });

    /// <summary>
    /// Orders lines by the name after the kind prefix, so each type's line comes first and its members
    /// follow it (a space sorts before the '.' of a member name); ordinal, so it is the same on every machine.
    /// </summary>
    public static readonly Comparison<string> Order = (a, b) =>
    {
        var byName = string.CompareOrdinal(a[(a.IndexOf(':') + 1)..], b[(b.IndexOf(':') + 1)..]);
        return byName != 0 ? byName : string.CompareOrdinal(a, b);
    };

    /// <summary>One line per public type and member, in <see cref="Order"/>.</summary>
    public static List<string> Lines(Assembly assembly) => Lines(Types(assembly));

    /// <summary>One line for each of <paramref name="types"/> and their members, in <see cref="Order"/>.</summary>
    public static List<string> Lines(IEnumerable<Type> types)
    {
        var lines = new List<string>();
        foreach (var type in types)
        {
            lines.Add(Describe(type));
            lines.AddRange(Members(type).Select(Describe));
        }
        lines.Sort(Order);
        return lines;
    }

    private static bool IsVisible(MethodBase method, Type type) =>
        method.IsPublic || (!type.IsSealed && (method.IsFamily || method.IsFamilyOrAssembly));

    private static bool IsVisible(FieldInfo field, Type type) =>
        field.IsPublic || (!type.IsSealed && (field.IsFamily || field.IsFamilyOrAssembly));

    // ----- The readable line of the public API file -----

    private static string Describe(Type type)
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
            bases.Add(Name(baseType, null));
        if (type.IsEnum)
            bases.Add(Name(Enum.GetUnderlyingType(type), null));
        bases.AddRange(type.GetInterfaces().Select(i => Name(i, null)).Order(StringComparer.Ordinal));

        return $"T:{Name(type, null)} ({kind}){(bases.Count > 0 ? " : " + string.Join(", ", bases) : "")}{Obsolete(type)}";
    }

    private static string Describe(MemberInfo member)
    {
        var nullability = new NullabilityInfoContext();
        var owner = Name(member.DeclaringType!, null);
        switch (member)
        {
            case ConstructorInfo ctor:
                return $"M:{owner}.{member.DeclaringType!.Name.Split('`')[0]}({Parameters(ctor, nullability)}){Modifiers(ctor)}{Obsolete(member)}";
            case MethodInfo method:
                var generic = method.IsGenericMethodDefinition ? $"<{string.Join(", ", method.GetGenericArguments().Select(a => a.Name))}>" : "";
                var returns = Name(method.ReturnType, nullability.Create(method.ReturnParameter));
                return $"M:{owner}.{method.Name}{generic}({Parameters(method, nullability)}) -> {returns}{Modifiers(method)}{Obsolete(member)}";
            case PropertyInfo property:
                var accessors = new List<string>();
                if (property.GetMethod is { } get && IsVisible(get, property.DeclaringType!))
                    accessors.Add(Access(get) + "get;");
                if (property.SetMethod is { } set && IsVisible(set, property.DeclaringType!))
                {
                    var init = set.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit));
                    accessors.Add(Access(set) + (init ? "init;" : "set;"));
                }
                var indexer = property.GetIndexParameters() is { Length: > 0 } index
                    ? $"[{string.Join(", ", index.Select(p => Parameter(p, nullability)))}]"
                    : "";
                var accessor = property.GetAccessors(nonPublic: true)[0];
                return $"P:{owner}.{property.Name}{indexer} -> {Name(property.PropertyType, nullability.Create(property))} {{ {string.Join(" ", accessors)} }}{Modifiers(accessor)}{Obsolete(member)}";
            case EventInfo @event:
                return $"E:{owner}.{@event.Name} -> {Name(@event.EventHandlerType!, nullability.Create(@event))}{Modifiers(@event.AddMethod!)}{Obsolete(member)}";
            case FieldInfo field:
                if (field.DeclaringType!.IsEnum)
                    return $"F:{owner}.{field.Name} = {Convert.ToString(field.GetRawConstantValue(), CultureInfo.InvariantCulture)}{Obsolete(member)}";
                var fieldKind = field.IsLiteral ? "const" : field.IsStatic ? (field.IsInitOnly ? "static readonly" : "static") : (field.IsInitOnly ? "readonly" : "");
                var value = field.IsLiteral ? $" = {Literal(field.GetRawConstantValue())}" : "";
                var modifiers = string.Join(" ", new[] { field.IsPublic ? "" : "protected", fieldKind }.Where(m => m.Length > 0));
                return $"F:{owner}.{field.Name} -> {Name(field.FieldType, nullability.Create(field))}{value}{(modifiers.Length > 0 ? $" ({modifiers})" : "")}{Obsolete(member)}";
            default:
                throw new NotSupportedException(member.ToString());
        }
    }

    private static string Parameters(MethodBase method, NullabilityInfoContext nullability)
    {
        var extension = method.IsDefined(typeof(ExtensionAttribute));
        return string.Join(", ", method.GetParameters().Select((p, i) => (extension && i == 0 ? "this " : "") + Parameter(p, nullability)));
    }

    private static string Parameter(ParameterInfo parameter, NullabilityInfoContext nullability)
    {
        var type = parameter.ParameterType;
        var prefix = "";
        if (type.IsByRef)
        {
            prefix = parameter.IsOut ? "out " : parameter.IsIn ? "in " : "ref ";
            type = type.GetElementType()!;
        }
        else if (parameter.IsDefined(typeof(ParamArrayAttribute)))
        {
            prefix = "params ";
        }
        var defaultValue = parameter.HasDefaultValue ? $" = {Literal(parameter.RawDefaultValue)}" : "";
        return $"{prefix}{Name(type, nullability.Create(parameter))} {parameter.Name}{defaultValue}";
    }

    private static string Modifiers(MethodBase method)
    {
        var modifiers = new List<string>();
        if (method.IsFamily || method.IsFamilyOrAssembly)
            modifiers.Add("protected");
        if (method.IsStatic)
            modifiers.Add("static");
        else if (method.IsAbstract && !method.DeclaringType!.IsInterface)
            modifiers.Add("abstract");
        else if (method is MethodInfo m && m.GetBaseDefinition() != m)
            modifiers.Add(method.IsFinal ? "sealed override" : "override");
        else if (method.IsVirtual && !method.IsFinal && !method.DeclaringType!.IsInterface)
            modifiers.Add("virtual");
        return modifiers.Count > 0 ? $" ({string.Join(" ", modifiers)})" : "";
    }

    private static string Access(MethodInfo accessor) => accessor.IsPublic ? "" : "protected ";

    private static string Obsolete(MemberInfo member) => member.IsDefined(typeof(ObsoleteAttribute)) ? " [Obsolete]" : "";

    private static string Literal(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        char c => $"'{c}'",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString()!,
    };

    /// <summary>A type as C# spells it, namespace-qualified, with its nullable annotations.</summary>
    private static string Name(Type type, NullabilityInfo? nullability)
    {
        if (Nullable.GetUnderlyingType(type) is { } underlying)
            return Name(underlying, nullability?.GenericTypeArguments.FirstOrDefault()) + "?";

        var nullable = !type.IsValueType && nullability is not null &&
            (nullability.ReadState == NullabilityState.Nullable ||
             (nullability.ReadState == NullabilityState.Unknown && nullability.WriteState == NullabilityState.Nullable));
        var mark = nullable ? "?" : "";

        if (type.IsArray)
            return $"{Name(type.GetElementType()!, nullability?.ElementType)}[{new string(',', type.GetArrayRank() - 1)}]{mark}";
        if (type.IsGenericParameter)
            return type.Name; // NullabilityInfoContext reads an unconstrained T as nullable: '?' would be noise, and T vs T? is not told apart
        if (Keywords.TryGetValue(type, out var keyword))
            return keyword + mark;

        var name = type.IsNested ? $"{Name(type.DeclaringType!, null)}.{type.Name}" : $"{type.Namespace}.{type.Name}";
        name = name.Split('`')[0];
        if (type.IsGenericType)
        {
            var arguments = type.GetGenericArguments();
            var argumentNullability = nullability?.GenericTypeArguments;
            name += "<" + string.Join(", ", arguments.Select((a, i) =>
                Name(a, argumentNullability is { Length: > 0 } && i < argumentNullability.Length ? argumentNullability[i] : null))) + ">";
        }
        return name + mark;
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
