-- expect: error-table.lua:2: error raised with a table value
error({})
