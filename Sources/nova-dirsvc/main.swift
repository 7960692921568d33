import NovaDirsvc
print(NovaSchema.ldif389ds, terminator: "")
