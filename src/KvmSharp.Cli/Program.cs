Console.WriteLine("kvmsharp");
