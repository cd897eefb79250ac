using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Dms.Tests.Architecture;

internal sealed record TypeName(string Namespace, string Name)
{
    public string FullName => Namespace.Length == 0 ? Name : Namespace + "." + Name;

    public override string ToString() => FullName;
}

/// <summary>A string in a type's IL (an <c>ldstr</c> operand or a string constant), with the member it sits in.</summary>
internal sealed record StringConstant(string Member, string Value);

/// <summary>What one top-level type uses: every type named in its signatures, attributes and method bodies, and every
/// string its code loads. Nested types count as their outermost declaring type, so lambdas' closure classes, async
/// state machines, iterators and local functions belong to the type whose source they were written in.</summary>
internal sealed record TypeFacts(TypeName Type, IReadOnlySet<TypeName> Uses, IReadOnlyList<StringConstant> Strings)
{
    /// <summary>Each call site (call, callvirt, newobj, ldftn) as the called method's outermost declaring type and name.</summary>
    public IReadOnlyList<(TypeName Type, string Method)> Calls { get; init; } = [];
}

/// <summary>IL scanning with Mono.Cecil (which NetArchTest brings), where a type-level verdict is not enough: the rules
/// report each offending type pair and each SQL string, which NetArchTest's failing-type list does not.</summary>
internal static class Il
{
    public static IReadOnlyList<TypeFacts> Facts(ModuleDefinition module) =>
        module.GetTypes()
            .Where(t => t.Name != "<Module>")
            .GroupBy(t => NameOf(Outermost(t)))
            .Select(g =>
            {
                var uses = new HashSet<TypeName>();
                var strings = new List<StringConstant>();
                var calls = new List<(TypeName, string)>();
                foreach (var type in g)
                {
                    Scan(type, uses, strings, calls);
                }
                uses.Remove(g.Key);
                return new TypeFacts(g.Key, uses, strings) { Calls = calls };
            })
            .ToList();

    private static void Scan(TypeDefinition type, HashSet<TypeName> uses, List<StringConstant> strings, List<(TypeName, string)> calls)
    {
        void Use(TypeReference? t)
        {
            foreach (var part in Parts(t))
            {
                uses.Add(NameOf(Outermost(part)));
            }
        }

        void Attributes(ICustomAttributeProvider p)
        {
            foreach (var a in p.CustomAttributes)
            {
                Use(a.AttributeType);
                foreach (var arg in a.ConstructorArguments.Concat(a.Properties.Select(x => x.Argument)).Concat(a.Fields.Select(x => x.Argument)))
                {
                    Use(arg.Value as TypeReference);
                }
            }
        }

        void GenericParameters(IGenericParameterProvider p)
        {
            foreach (var gp in p.GenericParameters)
            {
                foreach (var c in gp.Constraints)
                {
                    Use(c.ConstraintType);
                }
            }
        }

        Use(type.BaseType);
        Attributes(type);
        GenericParameters(type);
        foreach (var i in type.Interfaces)
        {
            Use(i.InterfaceType);
        }
        foreach (var f in type.Fields)
        {
            Use(f.FieldType);
            Attributes(f);
            if (f.HasConstant && f.Constant is string s)
            {
                strings.Add(new StringConstant(type.Name + "." + f.Name, s));
            }
        }
        foreach (var p in type.Properties)
        {
            Use(p.PropertyType);
            Attributes(p);
        }
        foreach (var e in type.Events)
        {
            Use(e.EventType);
        }
        foreach (var m in type.Methods)
        {
            Use(m.ReturnType);
            Attributes(m);
            Attributes(m.MethodReturnType);
            GenericParameters(m);
            foreach (var p in m.Parameters)
            {
                Use(p.ParameterType);
                Attributes(p);
            }
            if (!m.HasBody)
            {
                continue;
            }
            foreach (var v in m.Body.Variables)
            {
                Use(v.VariableType);
            }
            foreach (var h in m.Body.ExceptionHandlers)
            {
                Use(h.CatchType);
            }
            foreach (var ins in m.Body.Instructions)
            {
                switch (ins.Operand)
                {
                    case string s when ins.OpCode.Code == Code.Ldstr:
                        strings.Add(new StringConstant(type.Name + "." + m.Name, s));
                        break;
                    case TypeReference t:
                        Use(t);
                        break;
                    case MethodReference mr:
                        Method(mr);
                        calls.Add((NameOf(Outermost(mr.DeclaringType.GetElementType())), mr.Name));
                        break;
                    case FieldReference fr:
                        Use(fr.DeclaringType);
                        Use(fr.FieldType);
                        break;
                }
            }
        }

        void Method(MethodReference mr)
        {
            Use(mr.DeclaringType);
            Use(mr.ReturnType);
            foreach (var p in mr.Parameters)
            {
                Use(p.ParameterType);
            }
            if (mr is GenericInstanceMethod gim)
            {
                foreach (var a in gim.GenericArguments)
                {
                    Use(a);
                }
            }
        }
    }

    /// <summary>The named types inside a type reference: <c>Task&lt;IResult&gt;[]</c> is Task`1 and IResult.</summary>
    private static IEnumerable<TypeReference> Parts(TypeReference? t)
    {
        switch (t)
        {
            case null or GenericParameter or FunctionPointerType:
                yield break;
            case GenericInstanceType g:
                foreach (var p in Parts(g.ElementType).Concat(g.GenericArguments.SelectMany(Parts)))
                {
                    yield return p;
                }
                yield break;
            case TypeSpecification s: // arrays, by-ref, pointers, modifiers
                foreach (var p in Parts(s.ElementType))
                {
                    yield return p;
                }
                yield break;
            default:
                yield return t;
                break;
        }
    }

    private static TypeReference Outermost(TypeReference t)
    {
        while (t.DeclaringType is { } d)
        {
            t = d;
        }
        return t;
    }

    private static TypeDefinition Outermost(TypeDefinition t)
    {
        while (t.DeclaringType is { } d)
        {
            t = d;
        }
        return t;
    }

    private static TypeName NameOf(TypeReference t) => new(t.Namespace, t.Name);
}
